/** One version of one path, as sites store and exchange it (the replicated part of a manifest row). */
import { stampHlc, type Stamp } from "../clock/hlc.js";
import type { VersionVector } from "./vector.js";

export interface FileVersion {
  /** Canonical sync path (checkSyncPath). */
  path: string;
  /** SHA-256 of the whole file; null for a folder and for a tombstone. */
  hash: string | null;
  size: number;
  /** SHA-256 of each CHUNK_SIZE block, in order; empty for a folder, a tombstone or an empty file. */
  blocks: readonly string[];
  vv: VersionVector;
  /** HLC stamp of the write; orders concurrent versions (later wins the path). */
  stamp: Stamp;
  deleted: boolean;
  /**
   * A folder, not a file (issue #5: empty folders sync). Versioned and merged like a file; its
   * content is only "a folder is here". On a tombstone: what was deleted.
   */
  dir: boolean;
  /** Site id of the site that wrote this version. */
  origin: string;
}

/**
 * What the disk columns of the manifest (disk_hash) hold for a folder: not a SHA-256, so it never
 * equals a file's hash. Site-local, never on the wire.
 */
export const DIR_MARK = "dir";

/**
 * What this version puts on disk, in the terms of the disk columns: a file's hash, DIR_MARK for a
 * folder, null for nothing. The version is on disk when this equals disk_hash.
 */
export function diskKey(v: Pick<FileVersion, "hash" | "deleted" | "dir">): string | null {
  if (v.deleted) return null;
  return v.dir ? DIR_MARK : v.hash;
}

/** Wall-clock milliseconds of a version's stamp (for conflict-copy names). */
export function stampMs(v: Pick<FileVersion, "stamp">): number {
  return stampHlc(v.stamp).ms;
}

/** The tombstone a site writes when it sees `path` deleted (`dir`: it was a folder). */
export function tombstone(path: string, vv: VersionVector, stamp: Stamp, origin: string, dir = false): FileVersion {
  return { path, hash: null, size: 0, blocks: [], vv, stamp, deleted: true, dir, origin };
}

/** A folder written by `origin`. */
export function folderVersion(path: string, vv: VersionVector, stamp: Stamp, origin: string): FileVersion {
  return { path, hash: null, size: 0, blocks: [], vv, stamp, deleted: false, dir: true, origin };
}

/** Same content: both tombstones (whatever they deleted), both folders, or files with one hash. */
export function sameContent(a: FileVersion, b: FileVersion): boolean {
  if (a.deleted || b.deleted) return a.deleted === b.deleted;
  return a.dir === b.dir && a.hash === b.hash;
}
