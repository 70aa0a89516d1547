/**
 * Turns "something happened at this path" (watcher events, the startup scan) into reports to the
 * worker: a file's hashes, a folder, or a delete. A path is handled once it has been quiet for
 * `settleMs`; it is hashed between two stats and handled again if it changed meanwhile, so a file
 * still being written is never reported. Paths whose size and mtime are what the mirror
 * remembers are skipped unread, which is also what keeps files the materializer wrote from
 * echoing back. A trailing re-check after the watcher's own 50 ms throttle window catches a
 * second write that chokidar swallowed.
 */
import type { IgnoreMatcher } from "../../functions/files/ignore.js";
import type { FileUpload } from "../../functions/wire/files.js";
import { backoffDelay } from "../backoff.js";
import { FailureLog } from "../failure-log.js";
import type { DiskMirror } from "./disk-mirror.js";
import { mapLimit } from "./map-limit.js";
import { hashFile, sameStat, StillChanging } from "./hash-file.js";
import { PathRefused, type InstanceRoot } from "./safe-fs.js";
import type { FilesApi } from "./worker-api.js";

export interface UploaderOptions {
  root: InstanceRoot;
  mirror: DiskMirror;
  api: FilesApi;
  matcher(): IgnoreMatcher;
  log(line: string): void;
  /** Quiet time before a path is read (default 5 ms). The floor of local → peer latency; a write still going on while the file is read is caught by the stats around the hash. */
  settleMs?: number;
  /** When to look at a reported path once more (chokidar drops changes within 50 ms of another). */
  recheckMs?: number;
  /** How long an empty file modified just now must stay empty before it is reported (default 100 ms, see inspect). */
  emptySettleMs?: number;
  /** Files hashed at once. */
  concurrency?: number;
  /** A path turned out to be a folder (new, or moved in): the watcher must look inside. */
  onFolder?(path: string): void;
  /** A path vanished that was no known file: it may have been a folder with known files in it. */
  onVanished?(path: string): void;
  /**
   * The worker found one or more of these reports concurrent with a version it had received: it
   * kept one version at the path and the other as a conflict copy, which may now need writing here.
   */
  onConflicts?(paths: readonly string[]): void;
}

const BATCH = 500;
/** How soon a folder's delete is looked at again while the deletes of its contents are on their way. */
const FOLDER_DELETE_RETRY_MS = 50;
/** Bytes of block lists per upload request, far below the worker's body limit. */
const BATCH_BYTES = 8 * 1024 * 1024;

export class Uploader {
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly ready = new Set<string>();
  private running: Promise<void> | null = null;
  private failures = 0;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private readonly refusedLogged = new Set<string>();
  /** Folders waiting in `ready` whose entries the caller listed (noticeNow). */
  private readonly listedDirs = new Set<string>();
  private readonly failLog: FailureLog;
  /** Reports recorded by the worker since start (for tests and status). */
  uploaded = 0;
  /** Empty files looked at again later instead of reported (for tests). */
  emptyDeferred = 0;

  constructor(private readonly opts: UploaderOptions) {
    this.failLog = new FailureLog("file upload", opts.log);
  }

  /** Something happened at `path`; handle it once it has been quiet for a moment. */
  notice(path: string, delayMs = this.opts.settleMs ?? 5): void {
    if (this.stopped) return;
    const old = this.timers.get(path);
    if (old !== undefined) clearTimeout(old);
    this.timers.set(
      path,
      setTimeout(() => {
        this.timers.delete(path);
        this.ready.add(path);
        this.kick();
      }, delayMs),
    );
  }

  /**
   * Handle these paths now (the startup scan has just stat'ed them). `listed`: folders whose
   * entries the caller has listed already, all among `paths`: a new one is not listed once
   * more (onFolder), which was every file of a new tree once per new folder above it.
   */
  noticeNow(paths: Iterable<string>, listed: ReadonlySet<string> = new Set()): void {
    for (const p of paths) {
      this.ready.add(p);
      if (listed.has(p)) this.listedDirs.add(p);
    }
    this.kick();
  }

  /** Resolves once nothing is waiting or in flight (tests, startup). */
  async idle(): Promise<void> {
    while (this.running !== null || this.ready.size > 0 || this.timers.size > 0) {
      if (this.running !== null) await this.running;
      else await new Promise((r) => setTimeout(r, 5));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    if (this.retry !== null) clearTimeout(this.retry);
    if (this.running !== null) await this.running.catch(() => undefined);
  }

  private kick(): void {
    if (this.running !== null || this.retry !== null || this.stopped) return;
    this.running = this.drain().finally(() => {
      this.running = null;
      if (this.ready.size > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.ready.size > 0 && !this.stopped) {
      const paths = [...this.ready].slice(0, BATCH);
      for (const p of paths) this.ready.delete(p);
      if (!(await this.report(paths))) return;
    }
  }

  /**
   * Inspects `paths` (`concurrency` at once) and uploads their reports in order while the rest
   * are still being inspected: each upload takes every report ready by the time the previous one
   * is recorded. A peer starts fetching the first files of a batch of big ones while the others
   * are still being hashed (200 files of 1 MiB waited for the last hash, ~0.8 s, B5); a burst of
   * small ones still goes in few requests, since they pile up during each upload. False when an
   * upload failed: whatever was not recorded goes back in the queue and a retry is scheduled.
   */
  private async report(paths: readonly string[]): Promise<boolean> {
    const got = new Map<number, FileUpload | null>();
    let landed: () => void = () => undefined;
    const inspecting = mapLimit(
      paths.map((p, i) => ({ p, i })),
      this.opts.concurrency ?? 8,
      async ({ p, i }) => {
        got.set(i, await this.inspect(p));
        landed();
      },
    );
    for (let next = 0; next < paths.length; ) {
      // (An inspection that throws ends the wait too, and the drain with it.)
      if (!got.has(next)) await Promise.race([new Promise<void>((resolve) => (landed = resolve)), inspecting]);
      const reports: FileUpload[] = [];
      for (; got.has(next); next++) {
        const r = got.get(next);
        if (r) reports.push(r);
      }
      for (const part of splitBySize(reports)) {
        try {
          const recorded = await this.opts.api.upload(part);
          if (recorded.conflicts > 0) this.opts.onConflicts?.(part.map((r) => r.path));
          this.failures = 0;
          this.failLog.success();
        } catch (err) {
          // Back in the queue: this part and the ones after it, and what is still being inspected.
          for (const r of reports.slice(reports.indexOf(part[0]!))) this.ready.add(r.path);
          await inspecting;
          for (let i = next; i < paths.length; i++) {
            const r = got.get(i);
            if (r) this.ready.add(r.path);
          }
          this.failures++;
          this.failLog.failure(err instanceof Error ? err.message : String(err));
          this.retry = setTimeout(() => {
            this.retry = null;
            this.kick();
          }, backoffDelay(this.failures, 250, 10_000));
          return false;
        }
        this.uploaded += part.length;
        for (const r of part) this.remember(r);
      }
    }
    await inspecting;
    return true;
  }

  private remember(r: FileUpload): void {
    if (r.deleted === true) {
      const known = this.opts.mirror.get(r.path);
      if (known !== undefined) this.opts.mirror.noteDeleted(r.path, known.hash);
      this.opts.mirror.delete(r.path);
      this.opts.mirror.deleteDir(r.path);
      return;
    }
    if (r.dir === true) {
      this.opts.mirror.addDir(r.path);
      return;
    }
    this.opts.mirror.set(r.path, { size: r.size, mtimeMs: r.mtimeMs, hash: r.hash, blocks: r.blocks });
    this.recheckSoon([r.path]);
  }

  /**
   * Looks at these known paths once more after the watcher's window: chokidar drops a change
   * that follows another within 50 ms, and never reports a file that was gone before it looked.
   */
  recheckSoon(paths: readonly string[]): void {
    if (this.stopped) return;
    for (const path of paths) {
      const key = `recheck:${path}`;
      const old = this.timers.get(key);
      if (old !== undefined) clearTimeout(old);
      const t = setTimeout(() => {
        this.timers.delete(key);
        void this.recheck(path);
      }, this.opts.recheckMs ?? 80);
      this.timers.set(key, t);
    }
  }

  private async recheck(path: string): Promise<void> {
    const known = this.opts.mirror.get(path);
    const st = await this.opts.root.lstat(path).catch(() => null);
    if (known === undefined || st === null || !st.isFile() || !sameStat(known, st)) this.notice(path, 0);
  }

  /** What to tell the worker about `path`, or null for nothing. */
  private async inspect(path: string): Promise<FileUpload | null> {
    const { mirror, root } = this.opts;
    const known = mirror.get(path);
    const knownDir = mirror.hasDir(path);
    const listed = this.listedDirs.delete(path);
    // What this agent knew here: the worker's disk columns may not have heard of it yet.
    const gone: FileUpload = known === undefined ? { path, deleted: true } : { path, deleted: true, was: known.hash };
    try {
      const st = await root.lstat(path);
      if (this.opts.matcher().ignores(path, st?.isDirectory() ?? knownDir)) return null;
      if (st?.isDirectory()) {
        if (!listed) this.opts.onFolder?.(path);
        // A new folder (or one that replaced a file: the folder's version supersedes it).
        return knownDir ? null : { path, dir: true };
      }
      if (knownDir) {
        // The folder went away (or became a file): what was known inside went with it.
        this.opts.onVanished?.(path);
        if (st === null) return this.folderDeleted(path);
      } else if (st === null && known === undefined) {
        this.opts.onVanished?.(path);
        return null;
      }
      if (st === null || !st.isFile()) {
        if (st !== null) this.refused(path, st.isSymbolicLink() ? "is a symbolic link" : "is not a regular file");
        return known === undefined && !knownDir ? null : gone;
      }
      if (known !== undefined && sameStat(known, st)) return null;
      // Opening a file for writing empties it before the first byte is written: an empty file
      // changed a moment ago is most likely one an app is still writing (a writer preempted
      // there for 16 ms under load had its empty file synced, and deleted by a consumer on
      // another site, which then lost to the real content: the file came back everywhere).
      const emptyFor = Date.now() - st.mtimeMs;
      const emptySettle = this.opts.emptySettleMs ?? 100;
      if (st.size === 0 && emptyFor >= 0 && emptyFor < emptySettle) {
        this.emptyDeferred++;
        this.notice(path, emptySettle - emptyFor);
        return null;
      }
      const hashed = await hashFile(root, path);
      if (hashed === null) return known === undefined ? null : gone;
      const report: FileUpload = { path, size: hashed.size, hash: hashed.hash, blocks: hashed.blocks, mtimeMs: hashed.mtimeMs, ...(known === undefined ? {} : { was: known.hash }) };
      if (hashed.data !== undefined) report.data = hashed.data.toString("base64");
      return report;
    } catch (err) {
      if (err instanceof StillChanging) {
        this.notice(path);
        return null;
      }
      if (err instanceof PathRefused) {
        this.refused(path, err.message);
        return known === undefined ? null : gone;
      }
      this.opts.log(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    }
  }

  /**
   * A known folder is gone. Its delete is reported only once everything known inside has been
   * reported gone: a receiver removes a deleted folder only if it is empty once the deletes
   * before it in sequence are applied, so they must come first (functions/files/folders.ts).
   */
  private folderDeleted(path: string): FileUpload | null {
    const matcher = this.opts.matcher();
    const inside = this.opts.mirror.inside(path).filter((p) => !matcher.ignores(p, this.opts.mirror.hasDir(p)));
    if (inside.length === 0) return { path, deleted: true };
    this.notice(path, FOLDER_DELETE_RETRY_MS);
    return null;
  }

  private refused(path: string, why: string): void {
    if (this.refusedLogged.has(path)) return;
    this.refusedLogged.add(path);
    this.opts.log(`not syncing ${path}: ${why}; scoutsync never follows links or reads special files`);
  }
}

function splitBySize(reports: FileUpload[]): FileUpload[][] {
  const out: FileUpload[][] = [];
  let cur: FileUpload[] = [];
  let bytes = 0;
  for (const r of reports) {
    const b = 200 + ("blocks" in r ? r.blocks.length * 67 + (r.data?.length ?? 0) : 0);
    if (cur.length > 0 && bytes + b > BATCH_BYTES) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(r);
    bytes += b;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
