/**
 * Folders as entries (issue #5), pure. A folder deleted on one site must not take away a file
 * another site put in it meanwhile, and every site must end with the same tree. The rule, applied
 * by every site after every batch it writes (received, uploaded, or reported by its agent):
 *
 *   a folder's tombstone with a live entry beneath it is replaced by a new folder version of this
 *   site's own, written on top of the tombstone (its vector bumped).
 *
 * "Live beneath" is judged after the whole batch, so the file deletes that travel with a folder's
 * delete (same batch, or earlier in the sender's sequence: the sender records a folder's delete
 * after its contents') empty it first. Several sites may revive the same folder at once; their
 * versions are concurrent folders, which merge as the same content, so every site converges on
 * "the folder exists". A folder that holds only what sync never carries (ignored files) is kept
 * by the agent of that site, which reports it and gets the same revival.
 */
import { bumpVv } from "./vector.js";
import { folderVersion, type FileVersion } from "./version.js";
import type { Stamp } from "../clock/hlc.js";

/** The folders above `path`, outermost first: "a/b/c.txt" → ["a", "a/b"]. */
export function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) out.push(path.slice(0, i));
  return out;
}

/** Whether `path` lies somewhere inside folder `dir`. */
export function isInside(path: string, dir: string): boolean {
  return path.length > dir.length + 1 && path.startsWith(dir) && path[dir.length] === "/";
}

/** How deep a path is (number of separators): to order folders parents-first or children-first. */
export function depthOf(path: string): number {
  let n = 0;
  for (const ch of path) if (ch === "/") n++;
  return n;
}

/**
 * Folders a batch's writes may have left deleted over live content: the deleted folders it wrote
 * and the folders above its live entries. Deepest first, so a revived folder counts as live
 * content when its parent is judged.
 */
export function foldersToCheck(writes: Iterable<FileVersion>): string[] {
  const out = new Set<string>();
  for (const w of writes) {
    if (w.deleted && w.dir) out.add(w.path);
    if (!w.deleted) for (const a of ancestorsOf(w.path)) out.add(a);
  }
  return [...out].sort((a, b) => depthOf(b) - depthOf(a) || (a < b ? -1 : a > b ? 1 : 0));
}

/** Whether `current` (a path's version after the batch) is a deleted folder that must come back. */
export function mustRevive(current: FileVersion | null, liveInside: boolean): current is FileVersion {
  return current !== null && current.deleted && current.dir && liveInside;
}

/** The version that keeps a deleted folder: written by `site`, after the delete it saw. */
export function revivedFolder(deleted: FileVersion, site: string, stamp: Stamp): FileVersion {
  return folderVersion(deleted.path, bumpVv(deleted.vv, site), stamp, site);
}
