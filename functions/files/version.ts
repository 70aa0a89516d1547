/** One version of one path, as sites store and exchange it (the replicated part of a manifest row). */
import { stampHlc, type Stamp } from "../clock/hlc.js";
import type { VersionVector } from "./vector.js";

export interface FileVersion {
  /** Canonical sync path (checkSyncPath). */
  path: string;
  /** SHA-256 of the whole file; null for a tombstone. */
  hash: string | null;
  size: number;
  /** SHA-256 of each CHUNK_SIZE block, in order; empty for a tombstone or an empty file. */
  blocks: readonly string[];
  vv: VersionVector;
  /** HLC stamp of the write; orders concurrent versions (later wins the path). */
  stamp: Stamp;
  deleted: boolean;
  /** Site id of the site that wrote this version. */
  origin: string;
}

/** Wall-clock milliseconds of a version's stamp (for conflict-copy names). */
export function stampMs(v: Pick<FileVersion, "stamp">): number {
  return stampHlc(v.stamp).ms;
}

/** The tombstone a site writes when it sees `path` deleted. */
export function tombstone(path: string, vv: VersionVector, stamp: Stamp, origin: string): FileVersion {
  return { path, hash: null, size: 0, blocks: [], vv, stamp, deleted: true, origin };
}

/** Same content (both tombstones count as the same). */
export function sameContent(a: FileVersion, b: FileVersion): boolean {
  return a.deleted === b.deleted && a.hash === b.hash;
}
