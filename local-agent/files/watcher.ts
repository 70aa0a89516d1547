/**
 * Watches the instance folder with chokidar. An event only names a path: the uploader stats
 * and hashes it after its own short stability check, so a missed or doubled event costs a
 * stat, nothing more.
 *
 * chokidar watches folders only; files are heard through their folder's watch (its raw events
 * name the entry that changed, as inotify reports it). Left to itself chokidar gives every file
 * a watch of its own besides: an inotify watch per file (older kernels allow 8,192 per user, a
 * folder of 10,000 files then ran on rescans alone), ~3 KB of the agent's heap per file (51 MB
 * of live heap with 10,000 files, 22 MB without), and an lstat and a new watch for every file
 * a burst writes.
 *
 * chokidar's `awaitWriteFinish` is off on purpose: it polls every changed file (measured at
 * ~6 ms per file in a folder of 1,000, seconds for a burst), while the uploader's check (10 ms
 * after the last event, hashed between two stats, looked at again 80 ms later) costs nothing
 * while files are quiet. With it off, chokidar delivered a 2,000-file burst as it was written.
 *
 * chokidar lists a folder again whenever anything in it changes (at most once a second), to
 * find new and removed subfolders, with an lstat of every entry: in a folder of 10,000 files,
 * 20 edits a quarter of a second apart cost 4.4 s of CPU, and a burst of 2,000 small files
 * spent a quarter of the receiving agent's CPU there (B5). Its listings here hold folders
 * only, told apart by the types readdir returns, and build no entry for a file
 * (listFoldersOnly): 0.2 s for the same edits.
 */
import { promises as fsp, type Dirent, type Stats } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { watch, type FSWatcher } from "chokidar";
import { isTempName } from "../../functions/files/ignore.js";
import { checkSyncPath } from "../../functions/files/path.js";
import { isMissing, type InstanceRoot } from "./safe-fs.js";

const RESCAN_NEW_FOLDER_MS = 50;
/** When a new folder's own entries are listed once more, for files written into it before any watch on it was up. */
const LATE_LIST_MS = 500;

export interface FolderWatchOptions {
  root: InstanceRoot;
  /** True for a path that must not sync (the current .syncignore plus built-ins). */
  ignores(syncPath: string, isDir: boolean): boolean;
  /** Something happened at this path (a file, or a folder: the caller decides by a stat). */
  onPath(syncPath: string): void;
  onError(err: unknown): void;
  /** How many raw events one drain of inotify's queue delivered (functions/files/rescan.ts). */
  onDrain(events: number): void;
}

export class FolderWatch {
  private watcher: FSWatcher | null = null;
  private closed = false;
  /** Raw events in the drain being delivered now (null: none yet). */
  private drained: number | null = null;

  constructor(private readonly opts: FolderWatchOptions) {}

  async start(): Promise<void> {
    const root = this.opts.root.dir;
    const w = watch(root, {
      ignoreInitial: true, // the startup scan compares the folder with the manifest instead
      followSymlinks: false,
      awaitWriteFinish: false,
      atomic: false,
      alwaysStat: false,
      ignored: (abs, stats) => {
        const rel = this.relative(abs);
        if (rel === "") return false;
        if (rel === null) return true;
        // Anything but a folder is left to the raw events below (chokidar asks with stats for
        // every entry it meets, and without them only before it looks).
        if (stats !== undefined && !stats.isDirectory()) return true;
        return this.opts.ignores(rel, stats?.isDirectory() ?? false);
      },
    });
    listFoldersOnly(w);
    w.on("all", (event, abs) => {
      const rel = this.relative(abs);
      if (!this.closed && rel) this.opts.onPath(rel);
      if (event === "addDir") this.rescanSoon(w, abs, rel);
    });
    w.on("raw", (_event, name, details) => {
      this.countDrained();
      const folder = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
      // A materializer's temp file: three or four events per received file, none of them ours to send.
      if (this.closed || !name || typeof folder !== "string" || isTempName(name)) return;
      // Excluded paths too: the uploader decides on them by a stat, knowing a file from a folder.
      const rel = this.relative(path.join(folder, name));
      if (rel) this.opts.onPath(rel);
    });
    w.on("error", (err) => this.opts.onError(err));
    // Under heavy load the first walk can be slow; the startup scan covers the folder meanwhile.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10_000);
      w.once("ready", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.watcher = w;
  }

  /**
   * Reports every file and folder already inside folder `rel`: a folder that appears (moved in,
   * unpacked, made with `mkdir -p`) may hold entries that no event will ever name. chokidar
   * watches it by itself.
   */
  async addTree(rel: string, deep = true): Promise<void> {
    if (this.closed) return;
    try {
      for (const e of await fsp.readdir(this.opts.root.abs(rel), { withFileTypes: true })) {
        const child = checkSyncPath(`${rel}/${e.name}`);
        if (!child.ok || this.opts.ignores(child.path, e.isDirectory())) continue;
        this.opts.onPath(child.path);
        if (deep && e.isDirectory()) await this.addTree(child.path);
      }
    } catch (err) {
      if (!isMissing(err)) this.opts.onError(err);
    }
  }

  /**
   * chokidar misses a file written into a folder a few ms after the folder appears (its watch on
   * the new folder is not set up yet): the file is reported (addTree) but chokidar never learns of
   * it, so it never reports the file's delete (measured: ~1 in 20 folders made, then filled after
   * 2-10 ms, which is what the materializer does). Adding the folder again once its watch is up
   * makes chokidar read it and know what is in it. Files written into the folder between
   * addTree's listing and that watch being up were reported by nobody until the 60 s rescan
   * (46 of a burst of 300 into a new folder, 1 run in 5): its entries are listed once more later
   * (known ones are skipped unread by their size and mtime).
   */
  private rescanSoon(w: FSWatcher, abs: string, rel: string | null): void {
    setTimeout(() => {
      if (!this.closed) w.add(abs);
    }, RESCAN_NEW_FOLDER_MS).unref();
    if (rel) setTimeout(() => void this.addTree(rel, false), LATE_LIST_MS).unref();
  }

  /**
   * The runtime delivers one drain's events in one poll phase, one callback each; setImmediate
   * runs after that phase. Every raw event counts, excluded and temp files too: they filled the
   * queue as well.
   */
  private countDrained(): void {
    if (this.drained !== null) {
      this.drained++;
      return;
    }
    this.drained = 1;
    setImmediate(() => {
      const n = this.drained ?? 0;
      this.drained = null;
      this.opts.onDrain(n);
    });
  }

  close(): void {
    this.closed = true;
    void this.watcher?.close();
  }

  /**
   * The sync path of an absolute path under the root: "" for the root, null if refused or one
   * of the materializer's temp files (never synced; their rename into place is the event).
   */
  private relative(abs: string): string | null {
    const r = path.relative(this.opts.root.dir, abs);
    if (r === "") return "";
    const checked = checkSyncPath(r.split(path.sep).join("/"));
    return checked.ok && !isTempName(checked.path) ? checked.path : null;
  }
}

/**
 * Makes chokidar's folder listings hold folders only. Files reach us by raw events, never
 * through chokidar (`ignored` refuses them), so a listing only needs the folders, which readdir's
 * entry types tell apart. chokidar has no option for it: it makes every listing through
 * `_readdirp`, declared in its typings (test/unit/files-agent.test.ts checks that this still
 * holds), with an lstat of every entry; and readdirp, even told to skip files, builds a full
 * entry (paths joined and resolved) for each before it filters. So the listing is ours: one
 * readdir, and an entry only for each folder, with its directory entry in place of stats (all
 * chokidar and `ignored` ask of it is its type). A folder that went away or cannot be read
 * lists empty, as with readdirp; any other error fails the listing.
 */
export function listFoldersOnly(w: FSWatcher): void {
  w._readdirp = (root, opts) => {
    if (w.closed) return undefined;
    const keep = typeof opts?.directoryFilter === "function" ? opts.directoryFilter : () => true;
    // chokidar reads the stream's entries and its end; a ReaddirpStream is not needed for that.
    return Readable.from(folderEntries(root, keep), { objectMode: true }) as unknown as ReturnType<FSWatcher["_readdirp"]>;
  };
}

/** What chokidar reads of a listing's entry (readdirp's EntryInfo, with the directory entry as stats). */
interface FolderEntry {
  path: string;
  fullPath: string;
  basename: string;
  dirent: Dirent;
  stats: Stats;
}

/** A folder gone, turned into a file, or unreadable: the listing ends with what it has (readdirp's list, and ENOTDIR). */
const UNLISTABLE = new Set(["ENOENT", "ENOTDIR", "EPERM", "EACCES", "ELOOP"]);

async function* folderEntries(root: string, keep: (entry: FolderEntry) => boolean): AsyncGenerator<FolderEntry> {
  let dirents: Dirent[];
  try {
    dirents = await fsp.readdir(root, { withFileTypes: true });
  } catch (err) {
    if (UNLISTABLE.has((err as NodeJS.ErrnoException).code ?? "")) return;
    throw err;
  }
  for (const dirent of dirents) {
    if (!dirent.isDirectory()) continue;
    const entry: FolderEntry = { path: dirent.name, fullPath: path.join(root, dirent.name), basename: dirent.name, dirent, stats: dirent as unknown as Stats };
    if (keep(entry)) yield entry;
  }
}
