/**
 * What the site's own agent reports: files it saw change on disk (POST upload) and files it
 * brought to disk (POST materialized). Both only ever touch this site's manifest; new versions
 * are pushed to peers by the route.
 */
import type { InStatement, Transaction } from "@libsql/client/web";
import { planLocalChange, versionOf, type LocalChange } from "../../functions/files/local-change.js";
import { mergeVersions } from "../../functions/files/merge.js";
import type { FileVersion } from "../../functions/files/version.js";
import type { FileUpload, MaterializedItem, UploadResult } from "../../functions/wire/files.js";
import type { Services } from "../services.js";
import { FileClock, putDiskStmt, putErrorStmt, putVersionStmt, readMetaAndRows, readRows, writeFiles, writeMetaStmts, type DiskFacts, type ManifestRow } from "./store.js";

function diskFactsOf(change: FileUpload): DiskFacts {
  return change.deleted === true ? { hash: null, size: null, mtimeMs: null } : { hash: change.hash, size: change.size, mtimeMs: change.mtimeMs };
}

function asLocalChange(u: FileUpload): LocalChange {
  return u.deleted === true ? { path: u.path, deleted: true } : { path: u.path, hash: u.hash, size: u.size, blocks: u.blocks, mtimeMs: u.mtimeMs };
}

function rowOf(v: FileVersion, seq: number, source: string | null, disk: ManifestRow | undefined): ManifestRow {
  return { ...v, seq, source, error: null, heldBy: [], diskHash: disk?.diskHash ?? null, diskSize: disk?.diskSize ?? null, diskMtimeMs: disk?.diskMtimeMs ?? null };
}

/** Writes `v` at its path unless what is there already wins (a conflict copy landing on a taken name). */
async function putMerged(tx: Transaction, rows: Map<string, ManifestRow>, clock: FileClock, v: FileVersion, source: string | null, stmts: InStatement[]): Promise<void> {
  // Conflict copies are rare: one query for the name they land on is fine.
  if (!rows.has(v.path)) for (const [p, r] of await readRows(tx, [v.path])) rows.set(p, r);
  const existing = rows.get(v.path);
  const out = mergeVersions(existing ? versionOf(existing) : null, v);
  if (!out.changed) return;
  const seq = clock.nextSeq();
  stmts.push(putVersionStmt(out.winner, seq, source));
  rows.set(v.path, rowOf(out.winner, seq, source, existing));
  if (out.conflict) await putMerged(tx, rows, clock, out.conflict, source, stmts);
}

export async function recordUploads(s: Services, changes: readonly FileUpload[]): Promise<UploadResult> {
  return writeFiles(s.state, async ({ tx, finish }) => {
    const { meta, rows } = await readMetaAndRows(tx, changes.map((c) => c.path));
    const clock = new FileClock(meta, s.siteId);
    const stmts: InStatement[] = [];
    const result: UploadResult = { versions: 0, unchanged: 0, conflicts: 0 };
    for (const change of changes) {
      const current = rows.get(change.path) ?? null;
      const plan = planLocalChange(current, asLocalChange(change), s.siteId, () => clock.next());
      if (plan.kind === "none") {
        result.unchanged++;
        continue;
      }
      if (plan.kind === "version") {
        if (plan.conflict) {
          result.conflicts++;
          await putMerged(tx, rows, clock, plan.conflict, current?.source ?? null, stmts);
        }
        const seq = clock.nextSeq();
        stmts.push(putVersionStmt(plan.version, seq, null));
        rows.set(change.path, rowOf(plan.version, seq, null, undefined));
        result.versions++;
      } else {
        result.unchanged++;
      }
      const disk = diskFactsOf(change);
      stmts.push(putDiskStmt(change.path, disk));
      const row = rows.get(change.path);
      if (row) rows.set(change.path, { ...row, diskHash: disk.hash, diskSize: disk.size, diskMtimeMs: disk.mtimeMs, error: null });
    }
    await finish([...stmts, ...(result.versions > 0 ? writeMetaStmts(meta) : [])]);
    return result;
  });
}

/** Records what the materializer wrote or deleted (the disk columns), or why it could not. */
export async function recordMaterialized(s: Services, items: readonly MaterializedItem[]): Promise<number> {
  const stmts = items.map((it) => ("error" in it ? putErrorStmt(it.path, it.error) : putDiskStmt(it.path, { hash: it.hash, size: it.hash === null ? null : it.size, mtimeMs: it.hash === null ? null : it.mtimeMs })));
  await s.state.batch(stmts, "write");
  return stmts.length;
}
