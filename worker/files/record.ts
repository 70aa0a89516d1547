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
import { FileClock, putDiskStmt, putErrorStmt, putVersionStmt, readMeta, readRows, writeFiles, writeMetaStmts, type DiskFacts, type ManifestRow } from "./store.js";

function diskFactsOf(change: FileUpload): DiskFacts {
  return change.deleted === true ? { hash: null, size: null, mtimeMs: null } : { hash: change.hash, size: change.size, mtimeMs: change.mtimeMs };
}

function asLocalChange(u: FileUpload): LocalChange {
  return u.deleted === true ? { path: u.path, deleted: true } : { path: u.path, hash: u.hash, size: u.size, blocks: u.blocks, mtimeMs: u.mtimeMs };
}

/** Writes `v` at its path unless what is there already wins (a conflict copy landing on a taken name). */
async function putMerged(tx: Transaction, rows: Map<string, ManifestRow>, clock: FileClock, v: FileVersion, source: string | null, stmts: InStatement[]): Promise<void> {
  if (!rows.has(v.path)) for (const [p, r] of await readRows(tx, [v.path])) rows.set(p, r);
  const existing = rows.get(v.path);
  const out = mergeVersions(existing ? versionOf(existing) : null, v);
  if (!out.changed) return;
  const seq = clock.nextSeq();
  stmts.push(putVersionStmt(out.winner, seq, source));
  rows.set(v.path, { ...out.winner, seq, source, error: null, diskHash: existing?.diskHash ?? null, diskSize: existing?.diskSize ?? null, diskMtimeMs: existing?.diskMtimeMs ?? null });
  if (out.conflict) await putMerged(tx, rows, clock, out.conflict, source, stmts);
}

export async function recordUploads(s: Services, changes: readonly FileUpload[]): Promise<UploadResult> {
  return writeFiles(s.state, async (tx) => {
    const meta = await readMeta(tx);
    const clock = new FileClock(meta, s.siteId);
    const rows = await readRows(tx, changes.map((c) => c.path));
    const stmts: InStatement[] = [];
    const result: UploadResult = { versions: 0, unchanged: 0, conflicts: 0 };
    for (const change of changes) {
      const current = rows.get(change.path) ?? null;
      const plan = planLocalChange(current, asLocalChange(change), s.siteId, () => clock.next());
      const disk = diskFactsOf(change);
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
        rows.set(change.path, { ...plan.version, seq, source: null, error: null, diskHash: null, diskSize: null, diskMtimeMs: null });
        result.versions++;
      } else {
        result.unchanged++;
      }
      stmts.push(putDiskStmt(change.path, disk));
      const row = rows.get(change.path);
      if (row) rows.set(change.path, { ...row, diskHash: disk.hash, diskSize: disk.size, diskMtimeMs: disk.mtimeMs, error: null });
    }
    if (stmts.length > 0) await tx.batch([...stmts, ...(result.versions > 0 ? writeMetaStmts(meta) : [])]);
    return result;
  });
}

/** Records what the materializer wrote or deleted (the disk columns), or why it could not. */
export async function recordMaterialized(s: Services, items: readonly MaterializedItem[]): Promise<number> {
  const stmts = items.map((it) => ("error" in it ? putErrorStmt(it.path, it.error) : putDiskStmt(it.path, { hash: it.hash, size: it.hash === null ? null : it.size, mtimeMs: it.hash === null ? null : it.mtimeMs })));
  await writeFiles(s.state, async (tx) => void (await tx.batch(stmts)));
  return stmts.length;
}
