/** The engine's counters, kept in the app's file so they commit atomically with the rows. */
import { formatHlc, parseHlc, type Hlc } from "../clock/hlc.js";
import { int, textOrNull, type Row, type SqlExec, type Stmt } from "./port.js";

export interface Meta {
  hlc: Hlc;
  /** Last change sequence handed out; peers pull "changes after seq N". */
  seq: number;
}

export const READ_META_SQL = "SELECT (SELECT v FROM _scoutsync_meta WHERE k = 'hlc'), (SELECT v FROM _scoutsync_meta WHERE k = 'seq')";

export async function readMeta(tx: SqlExec): Promise<Meta> {
  const [rows] = await tx.batch([{ sql: READ_META_SQL }]);
  return parseMeta(rows?.[0] ?? []);
}

export function parseMeta(row: Row): Meta {
  return { hlc: parseHlc(textOrNull(row[0])), seq: int(row[1]) };
}

export function writeMetaStmts(m: Meta): Stmt[] {
  return [
    { sql: "INSERT OR REPLACE INTO _scoutsync_meta (k, v) VALUES ('hlc', ?)", args: [formatHlc(m.hlc)] },
    { sql: "INSERT OR REPLACE INTO _scoutsync_meta (k, v) VALUES ('seq', ?)", args: [m.seq] },
  ];
}
