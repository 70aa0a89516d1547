/**
 * What a change the agent saw on disk means for the manifest, pure. The disk columns (what the
 * agent last saw or wrote at this path) are what tell a real edit from an echo: a file the
 * materializer wrote comes back with the hash the manifest already has, and a stale event comes
 * back with the hash the disk had, so neither becomes a new version (no echo, no loops).
 */
import { conflictPathFor } from "./merge.js";
import { bumpVv } from "./vector.js";
import { tombstone, type FileVersion } from "./version.js";
import type { Stamp } from "../clock/hlc.js";

/** A manifest row: the replicated version plus what this site's disk holds. */
export interface StoredFile extends FileVersion {
  diskHash: string | null;
  diskSize: number | null;
  diskMtimeMs: number | null;
}

export type LocalChange =
  | { path: string; deleted?: false; hash: string; size: number; blocks: readonly string[]; mtimeMs: number }
  | { path: string; deleted: true };

export type LocalChangePlan =
  /** Nothing to record (a delete of something this site never had on disk). */
  | { kind: "none" }
  /** Same content as known: only the disk columns move. */
  | { kind: "disk" }
  /** A new version written here; `conflict` keeps a received version the edit would hide. */
  | { kind: "version"; version: FileVersion; conflict: FileVersion | null };

export function planLocalChange(current: StoredFile | null, change: LocalChange, site: string, nextStamp: () => Stamp): LocalChangePlan {
  if (change.deleted === true) {
    if (current === null) return { kind: "none" };
    if (current.deleted) return { kind: "disk" };
    // Never on this disk (not materialized yet): the delete is of nothing we know.
    if (current.diskHash === null) return { kind: "none" };
    // The disk held an older version and a newer one is waiting to be written: edits beat
    // deletes, so the waiting version will be written instead of deleting it everywhere.
    if (current.hash !== current.diskHash) return { kind: "disk" };
    return { kind: "version", version: tombstone(current.path, bumpVv(current.vv, site), nextStamp(), site), conflict: null };
  }
  if (current !== null) {
    if (!current.deleted && current.hash === change.hash) return { kind: "disk" };
    // The disk did not change content since we last saw it (a touch, a stale event).
    if (current.diskHash !== null && current.diskHash === change.hash) return { kind: "disk" };
  }
  const version: FileVersion = {
    path: change.path,
    hash: change.hash,
    size: change.size,
    blocks: [...change.blocks],
    vv: bumpVv(current?.vv ?? {}, site),
    stamp: nextStamp(),
    deleted: false,
    origin: site,
  };
  // A received version that never reached this disk was edited over without being seen: keep
  // it as a conflict copy rather than let the local edit silently replace it.
  const hidden = current !== null && !current.deleted && current.hash !== current.diskHash;
  return { kind: "version", version, conflict: hidden ? { ...versionOf(current), path: conflictPathFor(current) } : null };
}

/** The replicated part of a manifest row. */
export function versionOf(row: StoredFile): FileVersion {
  const { path, hash, size, blocks, vv, stamp, deleted, origin } = row;
  return { path, hash, size, blocks, vv, stamp, deleted, origin };
}
