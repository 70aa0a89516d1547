/**
 * Which manifest entries the materializer still has to bring to disk, and in what order, pure.
 * An entry is pending when its version's hash is not what the disk holds: a received file not
 * written yet (or written in an older version), or a received delete of a file still on disk.
 */

export interface DiskState {
  hash: string | null;
  deleted: boolean;
  diskHash: string | null;
}

export function isPending(row: DiskState): boolean {
  return (row.deleted ? null : row.hash) !== row.diskHash;
}

/**
 * Writes before deletes: a rename arrives as a delete and a create, and writing the new path
 * first lets it take its blocks from the old file still on disk instead of from the network.
 * Entries that failed before go last, so one bad entry never holds up the rest.
 */
export function orderPending<T extends DiskState & { error?: string | null }>(rows: readonly T[]): T[] {
  const rank = (r: T): number => (r.error ? 2 : 0) + (r.deleted ? 1 : 0);
  return rows
    .map((r, i) => ({ r, i }))
    .sort((a, b) => rank(a.r) - rank(b.r) || a.i - b.i)
    .map((x) => x.r);
}

/** Peers to fetch an entry's blocks from: the one it came from first (it surely has them), then the rest. */
export function fetchOrder<P extends { site: string | null }>(source: string | null, peers: readonly P[]): P[] {
  const first = peers.filter((p) => source !== null && p.site === source);
  return [...first, ...peers.filter((p) => !first.includes(p))];
}
