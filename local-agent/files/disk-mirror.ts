/**
 * The agent's memory of what the instance folder holds: per path the size, mtime, hash and
 * blocks it last hashed or wrote, and the reverse map block → files, which is how a block is
 * found on disk (the chunk server, renames that send no bytes, resumed transfers). Loaded from
 * the manifest's disk columns at start, then kept current by the watcher and the materializer.
 * Everything read through it is verified against its hash, so a stale entry costs a miss, never
 * wrong bytes. It also knows the folders that sync (issue #5), to tell a new folder from an echo
 * of one the materializer made, and a vanished folder from a path that never was one.
 */
import { caseFoldKey } from "../../functions/files/path.js";

export interface DiskEntry {
  size: number;
  mtimeMs: number;
  hash: string;
  /** Null when the blocks are not known (the manifest had another version's). */
  blocks: readonly string[] | null;
}

export interface BlockLocation {
  /** Sync path of a file under the instance folder (trash files included). */
  path: string;
  index: number;
  /** The file as it was when hashed: while its stat still says so, its blocks are what we hashed. */
  size: number;
  mtimeMs: number;
}

export class DiskMirror {
  private readonly files = new Map<string, DiskEntry>();
  private readonly byBlock = new Map<string, Set<string>>();
  private readonly byFold = new Map<string, string>();
  private readonly dirs = new Set<string>();
  /** Versions whose local delete the worker recorded lately, by path, oldest first (see deletedLately). */
  private readonly deleted = new Map<string, { hash: string; at: number }>();

  /** The worker recorded the local delete of this version of `path`. */
  noteDeleted(path: string, hash: string, now = Date.now()): void {
    this.deleted.delete(path);
    this.deleted.set(path, { hash, at: now });
  }

  /**
   * The version of `path` whose local delete was recorded within `withinMs`, if any. A
   * materializer pass holding a pending list from before that delete must not write the version
   * back: the agent would then report it as a new file, which beats the delete everywhere.
   */
  deletedLately(path: string, withinMs: number, now = Date.now()): string | undefined {
    for (const [p, d] of this.deleted) {
      if (now - d.at < withinMs) break;
      this.deleted.delete(p);
    }
    return this.deleted.get(path)?.hash;
  }

  hasDir(path: string): boolean {
    return this.dirs.has(path);
  }

  /** Remembers a folder at `path` (forgetting a file there, if any). */
  addDir(path: string): void {
    this.delete(path);
    this.dirs.add(path);
  }

  deleteDir(path: string): void {
    this.dirs.delete(path);
  }

  dirPaths(): IterableIterator<string> {
    return this.dirs.values();
  }

  /** Known files and folders inside folder `dir`. */
  inside(dir: string): string[] {
    const prefix = `${dir}/`;
    const out: string[] = [];
    for (const p of this.files.keys()) if (p.startsWith(prefix)) out.push(p);
    for (const p of this.dirs) if (p.startsWith(prefix)) out.push(p);
    return out;
  }

  get(path: string): DiskEntry | undefined {
    return this.files.get(path);
  }

  paths(): IterableIterator<string> {
    return this.files.keys();
  }

  get size(): number {
    return this.files.size;
  }

  set(path: string, entry: DiskEntry): void {
    this.delete(path);
    this.dirs.delete(path);
    this.files.set(path, entry);
    this.byFold.set(caseFoldKey(path), path);
    for (const b of entry.blocks ?? []) {
      let set = this.byBlock.get(b);
      if (set === undefined) this.byBlock.set(b, (set = new Set()));
      set.add(path);
    }
  }

  delete(path: string): void {
    const old = this.files.get(path);
    if (old === undefined) return;
    this.files.delete(path);
    if (this.byFold.get(caseFoldKey(path)) === path) this.byFold.delete(caseFoldKey(path));
    for (const b of old.blocks ?? []) {
      const set = this.byBlock.get(b);
      set?.delete(path);
      if (set?.size === 0) this.byBlock.delete(b);
    }
  }

  /** Files said to hold block `hash`, with the block's position in each. */
  locate(hash: string): BlockLocation[] {
    const out: BlockLocation[] = [];
    for (const path of this.byBlock.get(hash) ?? []) {
      const e = this.files.get(path);
      const index = e?.blocks?.indexOf(hash) ?? -1;
      if (e && index >= 0) out.push({ path, index, size: e.size, mtimeMs: e.mtimeMs });
    }
    return out;
  }

  /** A different known path that is the same file on a case-insensitive disk, if any. */
  caseTwin(path: string): string | null {
    const other = this.byFold.get(caseFoldKey(path));
    return other !== undefined && other !== path ? other : null;
  }
}
