/**
 * Which manifest entries the materializer still has to bring to disk, and in what order, pure.
 * An entry is pending when what its version puts on disk is not what the disk holds: a received
 * file not written yet (or written in an older version), a folder not made yet, or a received
 * delete of a file or folder still on disk.
 */
import { depthOf } from "./folders.js";
import { diskKey } from "./version.js";

export interface DiskState {
  path: string;
  hash: string | null;
  deleted: boolean;
  dir: boolean;
  diskHash: string | null;
}

export function isPending(row: DiskState): boolean {
  return diskKey(row) !== row.diskHash;
}

/**
 * Writes before deletes: a rename arrives as a delete and a create, and writing the new path
 * first lets it take its blocks from the old file still on disk instead of from the network.
 * Folders are made before the files that go in them (outermost first) and removed after the
 * file deletes that empty them (innermost first). Entries that failed before go last, so one bad
 * entry never holds up the rest.
 */
export function orderPending<T extends DiskState & { error?: string | null }>(rows: readonly T[]): T[] {
  const rank = (r: T): number => (r.error ? 4 : 0) + (r.deleted ? (r.dir ? 3 : 2) : r.dir ? 0 : 1);
  const depth = (r: T): number => (r.dir ? (r.deleted ? -depthOf(r.path) : depthOf(r.path)) : 0);
  return rows
    .map((r, i) => ({ r, i }))
    .sort((a, b) => rank(a.r) - rank(b.r) || depth(a.r) - depth(b.r) || a.i - b.i)
    .map((x) => x.r);
}

/** Peers to fetch an entry's blocks from: the one it came from first (it surely has them), then the rest. */
export function fetchOrder<P extends { site: string | null }>(source: string | null, peers: readonly P[]): P[] {
  const first = peers.filter((p) => source !== null && p.site === source);
  return [...first, ...peers.filter((p) => !first.includes(p))];
}
