/**
 * The merge rule for one path (DESIGN.md §2 "Files"), pure. Version vectors decide whether one
 * version saw the other; only truly concurrent versions need a rule:
 * - same content: keep it, with both histories;
 * - edit versus delete: the edit wins (as in Syncthing), so nothing is lost to a stale delete;
 * - two different edits: the later stamp wins the path and the loser is kept beside it at
 *   `conflictName(path, its stamp's time, its origin)`, itself an entry that syncs;
 * - a folder versus a file: the folder keeps the path whatever the stamps (the files under it
 *   need it as their parent) and the file is kept beside it as a conflict copy, its bytes intact;
 * Every site derives the same winner and the same conflict entry from the same two versions,
 * and a merged winner carries the join of both vectors, so the order and repetition of
 * deliveries do not change the outcome (property-tested in test/unit/files-merge.test.ts).
 */
import { conflictName } from "./conflict.js";
import { compareVv, joinVv } from "./vector.js";
import { sameContent, stampMs, type FileVersion } from "./version.js";

export interface MergeOutcome {
  /** What the path holds after the merge. */
  winner: FileVersion;
  /** The winner differs from the local version (write it, give it a new sequence). */
  changed: boolean;
  /** The loser of an edit-edit conflict, moved to its conflict-copy path; merge it there too. */
  conflict: FileVersion | null;
}

/** How many characters of the origin site id a conflict copy's name shows (Syncthing shows 7). */
export const CONFLICT_SITE_CHARS = 7;

/** Total order used where nothing else decides: stamp, then content. */
function later(a: FileVersion, b: FileVersion): boolean {
  if (a.stamp !== b.stamp) return a.stamp > b.stamp;
  if (a.dir !== b.dir) return a.dir;
  return (a.hash ?? "") > (b.hash ?? "");
}

function identical(a: FileVersion, b: FileVersion): boolean {
  return a.stamp === b.stamp && sameContent(a, b) && a.origin === b.origin && compareVv(a.vv, b.vv) === "equal";
}

/** Where the loser of a conflict at `loser.path` is kept. */
export function conflictPathFor(loser: FileVersion): string {
  const site = loser.origin.slice(0, CONFLICT_SITE_CHARS);
  try {
    return conflictName(loser.path, stampMs(loser), site);
  } catch {
    // Only a path too long to carry the infix gets here; a copy at the root keeps the bytes.
    return conflictName("conflict", stampMs(loser), site);
  }
}

export function mergeVersions(local: FileVersion | null, remote: FileVersion): MergeOutcome {
  if (local === null) return { winner: remote, changed: true, conflict: null };
  switch (compareVv(local.vv, remote.vv)) {
    case "lesser":
      return { winner: remote, changed: true, conflict: null };
    case "greater":
      return { winner: local, changed: false, conflict: null };
    case "equal":
      // Equal vectors mean the same version; should two ever differ, pick one the same way everywhere.
      if (identical(local, remote) || later(local, remote)) return { winner: local, changed: false, conflict: null };
      return { winner: remote, changed: true, conflict: null };
    case "concurrent":
      break;
  }
  const vv = joinVv(local.vv, remote.vv);
  if (sameContent(local, remote)) {
    return { winner: { ...(later(local, remote) ? local : remote), vv }, changed: true, conflict: null };
  }
  if (local.deleted !== remote.deleted) {
    return { winner: { ...(local.deleted ? remote : local), vv }, changed: true, conflict: null };
  }
  const localWins = local.dir !== remote.dir ? local.dir : later(local, remote);
  const [win, lose] = localWins ? [local, remote] : [remote, local];
  return { winner: { ...win, vv }, changed: true, conflict: { ...lose, path: conflictPathFor(lose) } };
}

/** Reads the current version of a path (inside the caller's transaction). */
export type VersionLookup = (path: string) => Promise<FileVersion | null> | FileVersion | null;

export interface MergeBatchResult {
  /** Final versions of every path that changed, in the order they were decided. */
  writes: FileVersion[];
  /** Incoming versions that changed nothing (already known or dominated). */
  unchanged: number;
  /** Conflict copies made. */
  conflicts: number;
}

/** Conflict copies of conflict copies are possible (same second, same origin); bounded anyway. */
const MAX_CONFLICT_DEPTH = 8;

/**
 * Merges a batch of received versions into the current state. Several versions of one path in
 * a batch, and conflict copies landing on paths that exist, are merged one after another.
 */
export async function mergeBatch(incoming: readonly FileVersion[], lookup: VersionLookup): Promise<MergeBatchResult> {
  const current = new Map<string, FileVersion | null>();
  const written = new Map<string, FileVersion>();
  let unchanged = 0;
  let conflicts = 0;
  const read = async (path: string): Promise<FileVersion | null> => {
    if (!current.has(path)) current.set(path, await lookup(path));
    return current.get(path) ?? null;
  };
  const mergeOne = async (v: FileVersion, depth: number): Promise<boolean> => {
    const out = mergeVersions(await read(v.path), v);
    if (out.changed) {
      current.set(v.path, out.winner);
      written.delete(v.path); // re-insert: keeps the order of the last decision
      written.set(v.path, out.winner);
    }
    if (out.conflict && depth < MAX_CONFLICT_DEPTH) {
      conflicts++;
      await mergeOne(out.conflict, depth + 1);
    }
    return out.changed;
  };
  for (const v of incoming) if (!(await mergeOne(v, 0))) unchanged++;
  return { writes: [...written.values()], unchanged, conflicts };
}
