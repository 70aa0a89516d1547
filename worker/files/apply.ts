/**
 * Received versions (a peer's push, or what we pulled): merged path by path with the pure rule
 * of functions/files/merge.ts, in one transaction, each change under a new local sequence so it
 * is forwarded to our other peers (A ↔ B ↔ C converges when A and C are not peers).
 */
import type { InStatement } from "@libsql/client/web";
import { createIgnoreMatcher } from "../../functions/files/ignore.js";
import { versionOf } from "../../functions/files/local-change.js";
import { mergeBatch } from "../../functions/files/merge.js";
import type { FileVersion } from "../../functions/files/version.js";
import type { FileApplyResult, FileEntry } from "../../functions/wire/files.js";
import type { Services } from "../services.js";
import { FileClock, putVersionStmt, readMeta, readRows, writeFiles, writeMetaStmts, type ManifestRow } from "./store.js";

/** Built-in exclusions only: .syncignore lives on the agent's disk, which applies it when writing. */
const builtins = createIgnoreMatcher(null);

export interface ApplyOutcome extends FileApplyResult {
  /** Some accepted version is not on this disk yet: the agent has work. */
  wake: boolean;
}

export async function applyFiles(s: Services, from: string, entries: readonly FileEntry[]): Promise<ApplyOutcome> {
  const accepted = entries.filter((e) => !builtins.ignores(e.path));
  const refused = entries.length - accepted.length;
  if (accepted.length === 0) return { applied: 0, unchanged: 0, conflicts: 0, refused, wake: false };
  return writeFiles(s.state, async (tx) => {
    const meta = await readMeta(tx);
    const clock = new FileClock(meta, s.siteId);
    const before = await readRows(tx, accepted.map((e) => e.path));
    const lookup = async (path: string): Promise<FileVersion | null> => {
      if (!before.has(path)) for (const [p, r] of await readRows(tx, [path])) before.set(p, r);
      const row = before.get(path);
      return row ? versionOf(row) : null;
    };
    const merged = await mergeBatch(accepted, lookup);
    for (const e of accepted) clock.saw(e.stamp);
    const stmts: InStatement[] = [];
    let wake = false;
    for (const w of merged.writes) {
      const old: ManifestRow | undefined = before.get(w.path);
      // Keep the old source when the content did not change (only the vector grew).
      const source = old && old.hash === w.hash && old.deleted === w.deleted ? old.source : from;
      stmts.push(putVersionStmt(w, clock.nextSeq(), source));
      if ((w.deleted ? null : w.hash) !== (old?.diskHash ?? null)) wake = true;
    }
    // The clock moves even when nothing was written, so later local edits stamp after what we saw.
    await tx.batch([...stmts, ...writeMetaStmts(meta)]);
    return { applied: merged.writes.length, unchanged: merged.unchanged, conflicts: merged.conflicts, refused, wake };
  });
}
