/** The engine's SqlDb port over @libsql/client: one interactive transaction per operation. */
import type { Client, InStatement, ResultSet } from "@libsql/client/web";
import type { Row, SqlDb, SqlExec, Stmt } from "../../functions/db/port.js";

function toRows(rs: ResultSet): Row[] {
  const width = rs.columns.length;
  return rs.rows.map((r) => {
    const out: Row = new Array(width);
    for (let i = 0; i < width; i++) out[i] = r[i] as Row[number];
    return out;
  });
}

function toStatements(stmts: Stmt[]): InStatement[] {
  return stmts.map((s) => ({ sql: s.sql, args: s.args ?? [] }));
}

export function clientDb(client: Client): SqlDb {
  const run = async <T>(mode: "write" | "read", fn: (tx: SqlExec) => Promise<T>): Promise<T> => {
    const tx = await client.transaction(mode);
    try {
      const out = await fn({ batch: async (stmts) => (await tx.batch(toStatements(stmts))).map(toRows) });
      await tx.commit();
      return out;
    } catch (err) {
      if (!tx.closed) await tx.rollback().catch(() => undefined);
      throw err;
    } finally {
      tx.close();
    }
  };
  return {
    write: (fn) => run("write", fn),
    read: (fn) => run("read", fn),
    // One pipeline request: BEGIN, the statements and COMMIT travel together.
    snapshot: async (stmts) => (await client.batch(toStatements(stmts), "read")).map(toRows),
  };
}
