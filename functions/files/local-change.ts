/**
 * What a change the agent saw on disk means for the manifest, pure. The disk columns (what the
 * agent last saw or wrote at this path) are what tell a real edit from an echo: a file the
 * materializer wrote comes back with the hash the manifest already has, and a stale event comes
 * back with the hash the disk had, so neither becomes a new version (no echo, no loops).
 */
import { conflictPathFor } from "./merge.js";
import { bumpVv } from "./vector.js";
import { DIR_MARK, diskKey, folderVersion, tombstone, type FileVersion } from "./version.js";
import type { Stamp } from "../clock/hlc.js";

/** A manifest row: the replicated version plus what this site's disk holds. */
export interface StoredFile extends FileVersion {
  diskHash: string | null;
  diskSize: number | null;
  diskMtimeMs: number | null;
}

/** `was`: the hash the agent last saw or wrote at the path (see FileUploadSchema). */
export type LocalChange =
  | { path: string; deleted?: false; dir?: false; hash: string; size: number; blocks: readonly string[]; mtimeMs: number; was?: string }
  | { path: string; deleted?: false; dir: true }
  | { path: string; deleted: true; was?: string };

export type LocalChangePlan =
  /** Nothing to record (a delete of something this site never had on disk). */
  | { kind: "none" }
  /** Same content as known: only the disk columns move. */
  | { kind: "disk" }
  /**
   * A new version written here (at `version.path`, which is the change's path except for a file
   * that loses to a folder); `conflict` keeps a received version the change would hide.
   */
  | { kind: "version"; version: FileVersion; conflict: FileVersion | null };

/** A received version that never reached this disk: a local change over it must not hide it. */
function unseen(current: StoredFile, disk: string | null = current.diskHash): boolean {
  return !current.deleted && diskKey(current) !== disk;
}

export function planLocalChange(current: StoredFile | null, change: LocalChange, site: string, nextStamp: () => Stamp): LocalChangePlan {
  // The agent's own memory of this path is newer than the disk columns its reports update.
  const was = "was" in change ? change.was : undefined;
  const disk = current === null ? null : (was ?? current.diskHash);
  if (change.deleted === true) {
    if (current === null) return { kind: "none" };
    if (current.deleted) return { kind: "disk" };
    if (current.dir) {
      // A file was here and the folder that replaces it waits to be made: it will be.
      if (current.diskHash !== null && current.diskHash !== DIR_MARK) return { kind: "disk" };
      // Otherwise the agent knew the folder, so it was on this disk, even if the report of
      // making it has not landed yet (a folder deleted right after it arrived).
    } else {
      // Never on this disk (not materialized yet): the delete is of nothing we know.
      if (disk === null) return { kind: "none" };
      // The disk held an older version and a newer one is waiting to be written: edits beat
      // deletes, so the waiting version will be written instead of deleting it everywhere.
      if (unseen(current, disk)) return { kind: "disk" };
    }
    return { kind: "version", version: tombstone(current.path, bumpVv(current.vv, site), nextStamp(), site, current.dir), conflict: null };
  }
  if (change.dir === true) {
    if (current !== null && !current.deleted && current.dir) return { kind: "disk" };
    // The folder was here already: a stale event while a received delete waits to be applied.
    if (current !== null && current.diskHash === DIR_MARK) return { kind: "disk" };
    const version = folderVersion(change.path, bumpVv(current?.vv ?? {}, site), nextStamp(), site);
    // A received file never written here keeps its bytes beside the new folder (folder-vs-file rule).
    return { kind: "version", version, conflict: current !== null && unseen(current) ? { ...versionOf(current), path: conflictPathFor(current) } : null };
  }
  if (current !== null) {
    if (!current.deleted && !current.dir && current.hash === change.hash) return { kind: "disk" };
    // The disk did not change content since we last saw it (a touch, a stale event).
    if (disk !== null && disk === change.hash) return { kind: "disk" };
  }
  const version: FileVersion = {
    path: change.path,
    hash: change.hash,
    size: change.size,
    blocks: [...change.blocks],
    vv: bumpVv(current?.vv ?? {}, site),
    stamp: nextStamp(),
    deleted: false,
    dir: false,
    origin: site,
  };
  if (current === null || !unseen(current, disk)) return { kind: "version", version, conflict: null };
  // A received folder not made here yet keeps the path (folder-vs-file rule): the file becomes
  // its conflict copy, and the materializer moves it aside when it makes the folder.
  if (current.dir) return { kind: "version", version: { ...version, vv: bumpVv({}, site), path: conflictPathFor(version) }, conflict: null };
  // A received version that never reached this disk was edited over without being seen: keep
  // it as a conflict copy rather than let the local edit silently replace it.
  return { kind: "version", version, conflict: { ...versionOf(current), path: conflictPathFor(current) } };
}

/** The replicated part of a manifest row. */
export function versionOf(row: StoredFile): FileVersion {
  const { path, hash, size, blocks, vv, stamp, deleted, dir, origin } = row;
  return { path, hash, size, blocks, vv, stamp, deleted, dir, origin };
}
