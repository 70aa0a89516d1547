/**
 * Brings received versions to disk. Takes the work the worker hands over with a wake, and asks
 * for what is pending besides; for each entry builds the file in a temp file beside the target
 * (assemble.ts), renames it over the target, or deletes (moves to the trash); folders it makes,
 * and removes only when empty. It never replaces what it did not expect: if the target's size or
 * mtime is not what the manifest last saw, a local edit is on its way and wins over this.
 */
import { promises as fsp, type Stats } from "node:fs";
import path from "node:path";
import { CHUNK_SIZE } from "../../functions/files/chunks.js";
import { depthOf } from "../../functions/files/folders.js";
import { caseFoldKey, baseName, checkSyncPath } from "../../functions/files/path.js";
import { DIR_MARK } from "../../functions/files/version.js";
import { tempNameFor, type IgnoreMatcher } from "../../functions/files/ignore.js";
import { fetchOrder } from "../../functions/files/pending.js";
import type { Blobs, MaterializedItem, PendingFile, PendingPage } from "../../functions/wire/files.js";
import { backoffDelay } from "../backoff.js";
import { FailureLog } from "../failure-log.js";
import { assembleFile, NotYet, tempToken, type AssembleStats } from "./assemble.js";
import type { DiskMirror } from "./disk-mirror.js";
import type { BlockDownload, PeerRef } from "./fetch-block.js";
import { sameStat } from "./hash-file.js";
import { PathRefused, lstatOrNull, type InstanceRoot } from "./safe-fs.js";
import type { Trash } from "./trash.js";
import { mapLimit } from "./map-limit.js";
import type { FilesApi } from "./worker-api.js";

export interface MaterializerOptions {
  root: InstanceRoot;
  mirror: DiskMirror;
  trash: Trash;
  api: FilesApi;
  matcher(): IgnoreMatcher;
  log(line: string): void;
  /** The disk folds case (macOS, Windows): refuse a name that differs from an existing one only by case. */
  foldsCase: boolean;
  /** Paths written or deleted by one pass (for the reload hook). */
  onLanded(paths: string[]): void;
  /** Poll for pending work this often while there is some (wakes bring new work at once). */
  pollMs?: number;
  /**
   * ... and this often while the last poll found nothing: the poll only backs up a lost wake (the
   * worker could not reach us), and each one costs the agent, the worker and the database a
   * request on an idle site (B7).
   */
  idlePollMs?: number;
  /** How blocks are fetched from peers (tests serve them from memory). */
  download?: BlockDownload;
}

const PAGE = 200;
/** Files of several blocks written at once (each fetches a few blocks at a time: assemble.ts). */
const FILES_AT_ONCE = 8;
/**
 * Files of one block (or none) written at once. Such a file is one fetch at most (small ones come
 * inline), so its time is mostly its fsync, which waits on the disk: more of them at once let the
 * filesystem's journal commit them together (B5, 2,000 files of 1 KiB, alternating runs: 347–393 → 483–572 files/s).
 */
const SMALL_FILES_AT_ONCE = 32;
const RETRIES_PER_PASS = 16;
/**
 * How long a local delete keeps a pass from writing the deleted version back (see write). Longer
 * than a pass holds its pending list; the same content sent again on purpose waits that long at most.
 */
const STALE_LIST_MS = 30_000;

export class Materializer {
  readonly stats: AssembleStats & { written: number; deleted: number } = {
    network: 0,
    bytes: 0,
    corrupt: 0,
    inline: 0,
    local: 0,
    resumed: 0,
    written: 0,
    deleted: 0,
  };
  /** The polling lane: asks the worker for pending work, page by page. */
  private running: Promise<void> | null = null;
  private again = false;
  /**
   * The express lane: work the worker handed over with a wake. It runs at once, beside a poll
   * pass that may be busy retrying entries no peer can supply yet, so a fresh file never waits
   * behind them.
   */
  private handed: PendingPage | null = null;
  private express: Promise<void> | null = null;
  /** Paths being written right now (by either lane). */
  private readonly inFlight = new Set<string>();
  /** Reports the worker has acknowledged, counted, and the last one of each path since the running poll asked for its list. */
  private acked = 0;
  private readonly ackedAt = new Map<string, number>();
  private poll: ReturnType<typeof setTimeout> | null = null;
  /** The last poll found an entry due or being written (or a wake came since): poll at the busy rate. */
  private busy = true;
  /** When the first entry the last poll saw waiting out a backoff is due again (ms epoch). */
  private retryAt = Infinity;
  private readonly backoff = new Map<string, { until: number; failures: number; hash: string | null }>();
  private readonly failLog: FailureLog;
  private stopped = false;

  constructor(private readonly opts: MaterializerOptions) {
    this.failLog = new FailureLog("bringing received files to disk", opts.log);
  }

  start(): void {
    this.schedulePoll();
    this.wake();
  }

  private schedulePoll(): void {
    if (this.stopped) return;
    const busyMs = this.opts.pollMs ?? 2_000;
    // Entries waiting out a backoff (no peer can supply them, a refused name) are looked at
    // again when the first is due, not at the busy pace for as long as they are listed.
    const ms = this.busy ? busyMs : Math.min(this.opts.idlePollMs ?? 30_000, Math.max(busyMs, this.retryAt - Date.now()));
    this.poll = setTimeout(() => {
      this.wake();
      this.schedulePoll();
    }, ms);
  }

  /** Plans the next poll again (see schedulePoll). */
  private replan(): void {
    if (this.stopped) return;
    if (this.poll !== null) clearTimeout(this.poll);
    this.schedulePoll();
  }

  /** Work now: the handed-over `page` in the express lane, else a poll pass (or one more after the running one). */
  wake(page: PendingPage | null = null): void {
    if (this.stopped) return;
    if (page !== null && page.files.length > 0) {
      // A poll waiting at a slower pace comes at the busy one, so what this work leaves to retry
      // (a block no peer could serve just then) does not wait for it. Only on the change: a
      // stream of wakes must not keep putting the poll off.
      if (!this.busy) {
        this.busy = true;
        this.replan();
      }
      this.handed = this.handed === null ? page : { peers: page.peers, files: [...this.handed.files, ...page.files], blobs: { ...this.handed.blobs, ...page.blobs } };
      this.runExpress();
      return;
    }
    if (this.running !== null) {
      this.again = true;
      return;
    }
    this.running = this.passes().finally(() => {
      this.running = null;
      if (this.again) this.wake();
    });
  }

  /**
   * Work at these paths is due now, whatever its backoff: our upload of them met versions a peer
   * sent (worker's conflict rule). The version that won and the conflict copy wait to be written
   * here, and nothing else would tell us before the next poll (a B10 conflict took 1.4–2 s to
   * settle instead of ~50 ms); a received version put off because of our edit is due again too.
   */
  retryNow(paths: readonly string[]): void {
    for (const p of paths) this.backoff.delete(p);
    this.wake();
  }

  private runExpress(): void {
    if (this.express !== null) return;
    this.express = (async () => {
      for (let handed = this.handed; handed !== null && !this.stopped; handed = this.handed) {
        this.handed = null;
        const due = handed.files.filter((f) => this.isDue(f));
        if (due.length > 0) await this.pass(handed, due).catch((err: unknown) => this.failLog.failure(err instanceof Error ? err.message : String(err)));
      }
    })().finally(() => {
      this.express = null;
      if (this.handed !== null) this.runExpress();
    });
  }

  /** Resolves when neither lane is running (tests). */
  async idle(): Promise<void> {
    while (this.running !== null || this.express !== null) await (this.running ?? this.express);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.poll !== null) clearTimeout(this.poll);
    await this.idle();
  }

  private async passes(): Promise<void> {
    this.again = false;
    try {
      for (let round = 0; round < 100 && !this.stopped; round++) {
        const asked = this.acked;
        const listed = await this.opts.api.pending(PAGE);
        // A list asked for before a report was acknowledged can still hold what that report said landed.
        const page = { ...listed, files: listed.files.filter((f) => (this.ackedAt.get(f.path) ?? 0) <= asked) };
        for (const [p, n] of this.ackedAt) if (n <= asked) this.ackedAt.delete(p);
        if (round === 0) {
          // Busy while an entry is due or being written (if that fails, it is due again soon).
          this.busy = page.files.some((f) => this.inFlight.has(f.path) || this.isDue(f));
          this.retryAt = Math.min(...page.files.map((f) => this.backoff.get(f.path)?.until ?? Infinity));
          this.replan();
        }
        // Everything new, but only a few retries per pass: entries that no reachable peer can
        // supply (its site went offline) must not flood the network or hold up the rest.
        let retries = 0;
        const due = page.files.filter((f) => this.isDue(f) && (!this.backoff.has(f.path) || retries++ < RETRIES_PER_PASS));
        if (due.length === 0) break;
        const done = await this.pass(page, due);
        this.failLog.success();
        // Another page only when this one made progress; the rest waits for its backoff.
        if (done === 0 || listed.files.length < PAGE) break;
      }
      await this.opts.trash.sweep();
    } catch (err) {
      this.failLog.failure(err instanceof Error ? err.message : String(err));
    }
  }

  private isDue(f: PendingFile): boolean {
    if (this.inFlight.has(f.path)) return false;
    const b = this.backoff.get(f.path);
    if (b === undefined) return true;
    if (b.hash !== f.hash) {
      this.backoff.delete(f.path);
      return true;
    }
    return Date.now() >= b.until;
  }

  private later(f: PendingFile): void {
    const failures = (this.backoff.get(f.path)?.failures ?? 0) + 1;
    // Up to ten minutes: an entry no peer can supply must not keep the network busy.
    this.backoff.set(f.path, { until: Date.now() + backoffDelay(failures, 1_000, 600_000), failures, hash: f.hash });
  }

  /**
   * One page: returns how many entries reached disk. Folders are made first (outermost first),
   * so the files that go in them find them, and removed last (innermost first), once the file
   * deletes of the page have emptied them.
   */
  private async pass(page: PendingPage, due: PendingFile[]): Promise<number> {
    const mine = due.filter((f) => !this.inFlight.has(f.path));
    for (const f of mine) this.inFlight.add(f.path);
    const one = (f: PendingFile): Promise<MaterializedItem | null> => this.materialize(f, page);
    let items: MaterializedItem[];
    try {
      const made = await mapLimit(sortByDepth(mine.filter((f) => f.dir && !f.deleted), 1), 1, one);
      const small = mine.filter((f) => !f.dir && f.size <= CHUNK_SIZE);
      const large = mine.filter((f) => !f.dir && f.size > CHUNK_SIZE);
      const files = (await Promise.all([mapLimit(small, SMALL_FILES_AT_ONCE, one), mapLimit(large, FILES_AT_ONCE, one)])).flat();
      const removed = await mapLimit(sortByDepth(mine.filter((f) => f.dir && f.deleted), -1), 1, one);
      items = [...made, ...files, ...removed].filter((r): r is MaterializedItem => r !== null);
      // Still in flight until the worker has the report: a poll that lists them meanwhile would
      // take them for work (B5: 1,000–1,800 files of a burst looked at and reported a second
      // time), and a poll that asked before the report came back leaves them too (passes).
      if (items.length > 0) {
        await this.opts.api.materialized(items);
        this.acked++;
        for (const i of items) this.ackedAt.set(i.path, this.acked);
      }
    } finally {
      for (const f of mine) this.inFlight.delete(f.path);
    }
    const landed = items.filter((i) => !("error" in i)).map((i) => i.path);
    if (landed.length > 0) this.opts.onLanded(landed);
    return landed.length;
  }

  /** Brings one entry to disk: what to report, or null (retry later, quietly). */
  private async materialize(f: PendingFile, page: PendingPage): Promise<MaterializedItem | null> {
    try {
      const item = f.deleted ? await this.remove(f) : f.dir ? await this.makeDir(f) : await this.write(f, fetchOrder(f.source, page.peers), page.blobs);
      this.backoff.delete(f.path);
      return item;
    } catch (err) {
      this.later(f);
      // Waiting for a peer is normal for a moment; after a few tries it is shown in status
      // (and then only now and then, not at every retry).
      const failures = this.backoff.get(f.path)?.failures ?? 0;
      if (err instanceof NotYet && (err.message === "" || failures < 4 || failures % 16 !== 4)) return null;
      const message = err instanceof Error ? err.message : String(err);
      this.opts.log(`cannot write ${f.path}: ${message}`);
      return { path: f.path, error: message };
    }
  }

  /** The target as the manifest last saw it, so we only ever replace what we know. */
  private expected(f: PendingFile, st: Stats): boolean {
    if (f.disk.hash !== null && f.disk.size === st.size && f.disk.mtimeMs === st.mtimeMs) return true;
    const known = this.opts.mirror.get(f.path);
    return known !== undefined && sameStat(known, st);
  }

  private refuseIgnoredOrTwin(f: PendingFile): void {
    const why = this.opts.matcher().reason(f.path, f.dir);
    if (why) throw new PathRefused(f.path, `excluded on this site (${why})`);
  }

  private async remove(f: PendingFile): Promise<MaterializedItem> {
    const { root, mirror, trash } = this.opts;
    this.refuseIgnoredOrTwin(f);
    const st = await root.lstat(f.path);
    if (st === null) {
      mirror.delete(f.path);
      return { path: f.path, hash: null, size: 0, mtimeMs: 0 };
    }
    if (st.isDirectory()) {
      // A folder neither the manifest nor this agent knows here: its upload is on the way and
      // beats this delete. (The agent knows one it made before the report of it has landed.)
      if (f.disk.hash !== DIR_MARK && !this.opts.mirror.hasDir(f.path)) throw new NotYet();
      return this.removeDir(f);
    }
    if (!st.isFile()) throw new PathRefused(f.path, "is not a regular file here; left alone");
    // Changed here since last seen: the local edit is being uploaded and beats this delete.
    if (!this.expected(f, st)) throw new NotYet();
    const moved = await trash.keep(f.path, true);
    if (!moved) await fsp.rm(await root.resolve(f.path), { force: true });
    mirror.delete(f.path);
    this.stats.deleted++;
    return { path: f.path, hash: null, size: 0, mtimeMs: 0 };
  }

  /**
   * Removes a folder a peer deleted, if it is empty now. If it still holds something this site
   * never reported (a new file on its way to the worker, a file sync never carries), it stays and
   * is reported `kept`: the worker then keeps it on every site (functions/files/folders.ts). If
   * all it holds is known, those entries' own deletes or revivals are on their way: retry.
   */
  private async removeDir(f: PendingFile): Promise<MaterializedItem> {
    const { root, mirror } = this.opts;
    const abs = await root.resolve(f.path);
    // Forgotten first, so the watcher's event for it is not taken for a local delete.
    mirror.deleteDir(f.path);
    try {
      await fsp.rmdir(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return { path: f.path, hash: null, size: 0, mtimeMs: 0 };
      mirror.addDir(f.path);
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
      const unknown = (await fsp.readdir(abs)).some((name) => {
        const child = checkSyncPath(`${f.path}/${name}`);
        return !child.ok || (mirror.get(child.path) === undefined && !mirror.hasDir(child.path));
      });
      if (!unknown) throw new NotYet();
      return { path: f.path, dir: true, kept: true };
    }
    this.stats.deleted++;
    return { path: f.path, hash: null, size: 0, mtimeMs: 0 };
  }

  /**
   * Makes a received folder. A file in its place that the manifest knows lost the path to it (the
   * folder-vs-file rule; its bytes travel on as a conflict copy): it goes to the trash, where the
   * copy finds its blocks. Any other file there is a local change on its way: retry.
   */
  private async makeDir(f: PendingFile): Promise<MaterializedItem> {
    const { root, mirror, trash } = this.opts;
    this.refuseIgnoredOrTwin(f);
    const parent = await root.parentOf(f.path, true);
    const target = path.join(parent, path.basename(root.abs(f.path)));
    if (this.opts.foldsCase) await this.refuseCaseTwin(f.path, parent);
    const st = lstatOrNull(target);
    if (st?.isDirectory()) {
      mirror.addDir(f.path);
      return { path: f.path, dir: true, kept: false };
    }
    if (st !== null) {
      if (!st.isFile()) throw new PathRefused(f.path, "a link or special file is in the way; left alone");
      if (!this.expected(f, st)) throw new NotYet();
      // Without a copy in the trash the bytes could be on no other site yet: only an empty file may go.
      if (!(await trash.keep(f.path, true))) {
        if (st.size > 0) throw new NotYet(`the file in the way of folder ${f.path} could not be set aside`);
        await fsp.rm(target, { force: true });
      }
    }
    // Remembered first: the watcher then knows this folder as ours and never sends it back.
    mirror.addDir(f.path);
    try {
      await fsp.mkdir(target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        mirror.deleteDir(f.path);
        throw err;
      }
    }
    this.stats.written++;
    return { path: f.path, dir: true, kept: false };
  }

  private async write(f: PendingFile, peers: PeerRef[], blobs: Blobs | undefined): Promise<MaterializedItem> {
    const { root, mirror, trash } = this.opts;
    const hash = f.hash;
    if (hash === null) throw new Error("a pending write without a hash");
    this.refuseIgnoredOrTwin(f);
    const parent = await root.parentOf(f.path, true);
    const target = path.join(parent, path.basename(root.abs(f.path)));
    if (this.opts.foldsCase) await this.refuseCaseTwin(f.path, parent);
    let before = lstatOrNull(target);
    // The folder this file replaced on another site: it goes once the deletes of what was in it
    // have emptied it (retry until then).
    if (before?.isDirectory() && f.disk.hash === DIR_MARK) {
      await this.rmdirOrNotYet(f.path, target);
      before = null;
    }
    // This very version was written here and is gone now: a local delete (an app consuming what
    // arrives), which the uploader reports and which then wins. A pass holding an older list of
    // pending entries must not write it back and so undo the delete, neither before the report
    // is recorded (the mirror still has it) nor just after (the mirror remembers the delete).
    if (before === null && (mirror.get(f.path)?.hash === hash || mirror.deletedLately(f.path, STALE_LIST_MS) === hash)) throw new NotYet();
    if (before !== null) {
      if (!before.isFile()) throw new PathRefused(f.path, "a folder, link or special file is in the way; left alone");
      // Already written (a wake's list can be older than a pass that ran meanwhile).
      const known = mirror.get(f.path);
      if (known !== undefined && known.hash === hash && sameStat(known, before)) return { path: f.path, hash, size: before.size, mtimeMs: before.mtimeMs };
      if (!this.expected(f, before)) throw new NotYet();
    }
    const temp = path.join(parent, baseName(tempNameFor(f.path, tempToken(f.path, hash))));
    const written = await assembleFile(temp, { ...f, hash }, { root, mirror, peers, blobs, stats: this.stats, download: this.opts.download });
    // Recheck right before the rename: an edit in the meantime wins (the temp is kept for later).
    const now = lstatOrNull(target);
    if ((before === null) !== (now === null) || (before !== null && now !== null && !sameStat(before, now))) throw new NotYet();
    if (now !== null) await trash.keep(f.path, false);
    // Remember first: the watcher then knows this file as ours and never sends it back.
    const previous = mirror.get(f.path);
    mirror.set(f.path, { size: written.size, mtimeMs: written.mtimeMs, hash, blocks: f.blocks });
    try {
      await fsp.rename(temp, target);
    } catch (err) {
      if (previous === undefined) mirror.delete(f.path);
      else mirror.set(f.path, previous);
      throw err;
    }
    this.stats.written++;
    return { path: f.path, hash, size: written.size, mtimeMs: written.mtimeMs };
  }

  private async rmdirOrNotYet(syncPath: string, abs: string): Promise<void> {
    this.opts.mirror.deleteDir(syncPath);
    try {
      await fsp.rmdir(abs);
    } catch (err) {
      this.opts.mirror.addDir(syncPath);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOTEMPTY" || code === "EEXIST") throw new NotYet();
      throw err;
    }
  }

  private async refuseCaseTwin(syncPath: string, parent: string): Promise<void> {
    const name = path.basename(nativePath(syncPath));
    const key = caseFoldKey(name);
    for (const other of await fsp.readdir(parent)) {
      if (other !== name && caseFoldKey(other) === key) {
        throw new PathRefused(syncPath, `would overwrite ${JSON.stringify(other)}, which is the same file on this case-insensitive disk`);
      }
    }
  }
}

/** Folders by depth: outermost first (`order` 1) or innermost first (-1). */
function sortByDepth(fs: PendingFile[], order: 1 | -1): PendingFile[] {
  return [...fs].sort((a, b) => order * (depthOf(a.path) - depthOf(b.path)));
}

function nativePath(syncPath: string): string {
  return syncPath.split("/").join(path.sep);
}
