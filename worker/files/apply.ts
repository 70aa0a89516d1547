/**
 * Received versions (a peer's push, or what we pulled): merged path by path with the pure rule
 * of functions/files/merge.ts, in one transaction, each change under a new local sequence so it
 * is forwarded to our other peers (A ↔ B ↔ C converges when A and C are not peers).
 */
import { createIgnoreMatcher } from "../../functions/files/ignore.js";
import { versionOf } from "../../functions/files/local-change.js";
import { mergeBatch } from "../../functions/files/merge.js";
import { diskKey, sameContent, type FileVersion } from "../../functions/files/version.js";
import type { FileApplyResult, FileEntry, PendingFile } from "../../functions/wire/files.js";
import type { Services } from "../services.js";
import { folderRevivals } from "./folders.js";
import { hashFitsBlocks } from "./sha256.js";
import { FileClock, ManifestWrites, readMetaAndRows, writeFiles, writeMetaStmts, type ManifestRow } from "./store.js";

/** Built-in exclusions only: .syncignore lives on the agent's disk, which applies it when writing. */
const builtins = createIgnoreMatcher(null);

export interface ApplyOutcome extends FileApplyResult {
  /** Accepted versions that are not on this disk yet: the agent's work, handed to it at once. */
  pending: PendingFile[];
}

export function pendingFileOf(row: ManifestRow): PendingFile {
  return {
    path: row.path,
    hash: row.hash,
    size: row.size,
    blocks: [...row.blocks],
    deleted: row.deleted,
    dir: row.dir,
    source: row.source,
    disk: { hash: row.diskHash, size: row.diskSize, mtimeMs: row.diskMtimeMs },
    error: row.error,
  };
}

/** `also`: the other sites the sender pushes the same versions to (we need not forward them there). */
export async function applyFiles(s: Services, from: string, entries: readonly FileEntry[], also: readonly string[] = []): Promise<ApplyOutcome> {
  // A hash its blocks do not make could never be written (the agent checks it again): refused here.
  const fits = await Promise.all(entries.map(hashFitsBlocks));
  const accepted = entries.filter((e, i) => fits[i] === true && !builtins.ignores(e.path, e.dir));
  const refused = entries.length - accepted.length;
  if (accepted.length === 0) return { applied: 0, unchanged: 0, conflicts: 0, refused, pending: [] };
  return writeFiles(s.state, async ({ tx, finish }) => {
    // Paths of the batch and their folders are read here; only a conflict copy's name can need a query.
    const { meta, rows: before, lookup: lookupMany } = await readMetaAndRows(tx, accepted.map((e) => e.path));
    const clock = new FileClock(meta, s.siteId);
    const lookup = async (path: string): Promise<FileVersion | null> => (await lookupMany([path])).get(path) ?? null;
    const merged = await mergeBatch(accepted, lookup);
    for (const e of accepted) clock.saw(e.stamp);
    // Folders this batch deletes that still hold entries here come back (functions/files/folders.ts).
    const writes = new Map(merged.writes.map((w) => [w.path, w]));
    const revived = await folderRevivals({ tx, lookup: lookupMany, site: s.siteId, nextStamp: () => clock.next() }, writes);
    for (const r of revived) {
      writes.delete(r.path); // keeps the order: after what it revives
      writes.set(r.path, r);
    }
    const received = new Set<FileVersion>(accepted);
    const manifest = new ManifestWrites();
    const pending: PendingFile[] = [];
    for (const w of writes.values()) {
      const old = before.get(w.path);
      // Keep the old source when the content did not change (only the vector grew); a revival is ours.
      const source = revived.includes(w) ? null : old && sameContent(versionOf(old), w) ? old.source : from;
      // Taken as sent: the sender has exactly this version, so pushing it back would be an echo.
      const heldBy = received.has(w) ? [from, ...also.filter((x) => x !== from && x !== s.siteId)] : [];
      const seq = clock.nextSeq();
      manifest.version(w, seq, source, heldBy);
      if (diskKey(w) !== (old?.diskHash ?? null)) {
        pending.push(pendingFileOf({ ...w, seq, source, heldBy, error: null, diskHash: old?.diskHash ?? null, diskSize: old?.diskSize ?? null, diskMtimeMs: old?.diskMtimeMs ?? null }));
      }
    }
    // The clock moves even when nothing was written, so later local edits stamp after what we saw.
    await finish([...manifest.statements(), ...writeMetaStmts(meta)]);
    return { applied: writes.size, unchanged: merged.unchanged, conflicts: merged.conflicts, refused, pending };
  });
}
