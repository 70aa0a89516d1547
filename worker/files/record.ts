/**
 * What the site's own agent reports: files and folders it saw change on disk (POST upload) and
 * what it brought to disk (POST materialized). Both only ever touch this site's manifest; new
 * versions are pushed to peers by the route.
 */
import type { Transaction } from "@libsql/client/web";
import { depthOf, revivedFolder } from "../../functions/files/folders.js";
import { planLocalChange, versionOf } from "../../functions/files/local-change.js";
import { mergeVersions } from "../../functions/files/merge.js";
import { DIR_MARK, type FileVersion } from "../../functions/files/version.js";
import type { FileUpload, MaterializedItem, UploadResult } from "../../functions/wire/files.js";
import type { Services } from "../services.js";
import { folderRevivals, type RevivalContext } from "./folders.js";
import { FileClock, ManifestWrites, readMetaAndRows, readRows, writeFiles, writeMetaStmts, type DiskFacts, type ManifestRow } from "./store.js";

/** Deeper than any path can be (MAX_PATH_BYTES): ranks folder deletes after everything else. */
const MAX_DEPTH = 1 << 16;
const FOLDER_ON_DISK: DiskFacts = { hash: DIR_MARK, size: 0, mtimeMs: 0 };

function diskFactsOf(change: FileUpload): DiskFacts {
  if (change.deleted === true) return { hash: null, size: null, mtimeMs: null };
  if (change.dir === true) return FOLDER_ON_DISK;
  return { hash: change.hash, size: change.size, mtimeMs: change.mtimeMs };
}

function rowOf(v: FileVersion, seq: number, source: string | null, disk: ManifestRow | undefined): ManifestRow {
  return { ...v, seq, source, error: null, heldBy: [], diskHash: disk?.diskHash ?? null, diskSize: disk?.diskSize ?? null, diskMtimeMs: disk?.diskMtimeMs ?? null };
}

/** A batch's writes by path, for the folder rule; a later write of a path replaces the earlier. */
class Written {
  readonly byPath = new Map<string, FileVersion>();
  add(v: FileVersion): void {
    this.byPath.delete(v.path);
    this.byPath.set(v.path, v);
  }
}

/** Writes `v` at its path unless what is there already wins (a conflict copy landing on a taken name). */
async function putMerged(tx: Transaction, rows: Map<string, ManifestRow>, clock: FileClock, v: FileVersion, source: string | null, writes: ManifestWrites, written: Written): Promise<void> {
  // Conflict copies are rare: one query for the name they land on is fine.
  if (!rows.has(v.path)) for (const [p, r] of await readRows(tx, [v.path])) rows.set(p, r);
  const existing = rows.get(v.path);
  const out = mergeVersions(existing ? versionOf(existing) : null, v);
  if (!out.changed) return;
  const seq = clock.nextSeq();
  writes.version(out.winner, seq, source);
  rows.set(v.path, rowOf(out.winner, seq, source, existing));
  written.add(out.winner);
  if (out.conflict) await putMerged(tx, rows, clock, out.conflict, source, writes, written);
}

/** The transaction, and its reader of versions by path over the rows it has read (store.ts readMetaAndRows). */
type RowsRead = Pick<RevivalContext, "tx" | "lookup">;

/** Writes the revivals the folder rule asks for after `written`; returns how many. */
async function reviveFolders(read: RowsRead, rows: Map<string, ManifestRow>, clock: FileClock, site: string, written: Written, writes: ManifestWrites): Promise<number> {
  const revived = await folderRevivals({ ...read, site, nextStamp: () => clock.next() }, written.byPath);
  for (const v of revived) {
    const seq = clock.nextSeq();
    writes.version(v, seq, null);
    rows.set(v.path, rowOf(v, seq, null, rows.get(v.path)));
  }
  return revived.length;
}

export async function recordUploads(s: Services, changes: readonly FileUpload[]): Promise<UploadResult> {
  return writeFiles(s.state, async ({ tx, finish }) => {
    const { meta, rows, lookup } = await readMetaAndRows(tx, changes.map((c) => c.path));
    const clock = new FileClock(meta, s.siteId);
    const writes = new ManifestWrites();
    const written = new Written();
    const result: UploadResult = { versions: 0, unchanged: 0, conflicts: 0 };
    // A folder's delete is recorded after every other report of the batch, innermost first: a
    // receiver judges "is it empty?" in sequence order, so the file deletes must come before.
    const rank = (c: FileUpload): number => (c.deleted === true && rows.get(c.path)?.dir === true ? MAX_DEPTH - depthOf(c.path) : 0);
    const ordered = [...changes].sort((a, b) => rank(a) - rank(b));
    for (const change of ordered) {
      const current = rows.get(change.path) ?? null;
      const plan = planLocalChange(current, change, s.siteId, () => clock.next());
      if (plan.kind === "none") {
        result.unchanged++;
        continue;
      }
      if (plan.kind === "version") {
        if (plan.conflict) {
          result.conflicts++;
          await putMerged(tx, rows, clock, plan.conflict, current?.source ?? null, writes, written);
        }
        if (plan.version.path !== change.path) {
          // A file that lost its path to a folder: kept beside it, merged with whatever is there.
          result.conflicts++;
          await putMerged(tx, rows, clock, plan.version, null, writes, written);
        } else {
          const seq = clock.nextSeq();
          writes.version(plan.version, seq, null);
          rows.set(change.path, rowOf(plan.version, seq, null, undefined));
          written.add(plan.version);
        }
        result.versions++;
      } else {
        result.unchanged++;
      }
      const disk = diskFactsOf(change);
      writes.disk(change.path, disk);
      const row = rows.get(change.path);
      if (row) rows.set(change.path, { ...row, diskHash: disk.hash, diskSize: disk.size, diskMtimeMs: disk.mtimeMs, error: null });
    }
    result.versions += await reviveFolders({ tx, lookup }, rows, clock, s.siteId, written, writes);
    await finish([...writes.statements(), ...(result.versions > 0 ? writeMetaStmts(meta) : [])]);
    return result;
  });
}

/**
 * Records what the materializer wrote, deleted or made (the disk columns), or why it could not.
 * A folder it `kept` (a received delete found it holding what sync does not carry, such as
 * ignored files) comes back as a new version, so every site keeps it. Returns how many new
 * versions that made (the caller pushes them).
 */
export async function recordMaterialized(s: Services, items: readonly MaterializedItem[]): Promise<{ recorded: number; versions: number }> {
  const writes = new ManifestWrites();
  const facts = (): void => {
    for (const it of items) {
      if ("error" in it) writes.error(it.path, it.error);
      else if ("dir" in it) writes.disk(it.path, FOLDER_ON_DISK);
      else writes.disk(it.path, { hash: it.hash, size: it.hash === null ? null : it.size, mtimeMs: it.hash === null ? null : it.mtimeMs });
    }
  };
  const kept = items.filter((it) => "dir" in it && it.kept).map((it) => it.path);
  if (kept.length === 0) {
    facts();
    await s.state.batch(writes.statements(), "write");
    return { recorded: items.length, versions: 0 };
  }
  return writeFiles(s.state, async ({ tx, finish }) => {
    const { meta, rows, lookup } = await readMetaAndRows(tx, kept);
    const clock = new FileClock(meta, s.siteId);
    const written = new Written();
    for (const path of kept) {
      const row = rows.get(path);
      if (row === undefined || !row.deleted) continue;
      const v = revivedFolder(versionOf(row), s.siteId, clock.next());
      const seq = clock.nextSeq();
      writes.version(v, seq, null);
      rows.set(path, rowOf(v, seq, null, row));
      written.add(v);
    }
    const n = written.byPath.size + (await reviveFolders({ tx, lookup }, rows, clock, s.siteId, written, writes));
    // The new versions go first, then what is on disk: a kept folder's own report marks it there.
    facts();
    await finish([...writes.statements(), ...(n > 0 ? writeMetaStmts(meta) : [])]);
    return { recorded: items.length, versions: n };
  });
}
