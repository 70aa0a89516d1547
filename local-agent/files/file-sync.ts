/**
 * The agent's half of file sync, wired: the chunk server, the mirror of the disk, the watcher
 * and uploader (disk → worker), the materializer (worker → disk) and the reload hook. Start-up
 * order matters: the watcher runs before the scan so nothing written during the scan is missed,
 * and the materializer starts last so the scan never mistakes a file it is writing for a local
 * change. A worker that is not up yet is waited for, with backoff; the agent keeps running.
 */
import { closeSync, readFileSync } from "node:fs";
import { createIgnoreMatcher, SYNCIGNORE_PATH, type IgnoreMatcher } from "../../functions/files/ignore.js";
import { burstDrainLimit, DEFAULT_MAX_QUEUED_EVENTS, rescanDue, RESCAN_SOON_MS } from "../../functions/files/rescan.js";
import { DIR_MARK } from "../../functions/files/version.js";
import { backoffDelay } from "../backoff.js";
import type { ChildConfig } from "../child-protocol.js";
import { FailureLog } from "../failure-log.js";
import { startChunkServer, type ChunkServer } from "./chunk-server.js";
import { blockBuffers } from "./block-buffers.js";
import { readLocalBlock } from "./blocks.js";
import { DiskMirror } from "./disk-mirror.js";
import { sameStat } from "./hash-file.js";
import { Materializer } from "./materializer.js";
import { OnChangeHook } from "./on-change.js";
import { foldsCase, InstanceRoot } from "./safe-fs.js";
import { scanFolder } from "./scan.js";
import { TRASH_DIR, Trash } from "./trash.js";
import { Uploader } from "./uploader.js";
import { FolderWatch } from "./watcher.js";
import { memoMatcher } from "./memo-matcher.js";
import { localFilesApi, type FilesApi } from "./worker-api.js";

/** This machine's inotify queue length (Linux; elsewhere the default stands in). */
function maxQueuedEvents(): number {
  try {
    const n = Number(readFileSync("/proc/sys/fs/inotify/max_queued_events", "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_QUEUED_EVENTS;
  } catch {
    return DEFAULT_MAX_QUEUED_EVENTS;
  }
}

export interface FileSyncOptions {
  instance: string;
  api: FilesApi;
  /** The admin token: the chunk server answers only callers that present it. */
  token: string;
  log(line: string): void;
  onChange?: string | undefined;
  onChangeUrl?: string | undefined;
  settleMs?: number;
  pollMs?: number;
  /** Force case-insensitive behaviour (tests); detected from the disk otherwise. */
  foldsCase?: boolean;
}

export class FileSync {
  private matcher: IgnoreMatcher = memoMatcher(createIgnoreMatcher(null));
  private rescan: ReturnType<typeof setInterval> | null = null;
  /** Since the last rescan started (functions/files/rescan.ts). */
  private sinceRescan = { at: Date.now(), biggestDrain: 0 };
  /** The current watch reported an error: it may miss changes for as long as it runs. */
  private watchTrouble = false;
  private watch: FolderWatch | null = null;
  private stopped = false;
  private started: Promise<void> | null = null;
  private reloading: Promise<void> | null = null;
  private reloadAgain = false;
  /** Ends a wait for the worker at once when the agent stops. */
  private wakeInit: (() => void) | null = null;

  private constructor(
    private readonly opts: FileSyncOptions,
    readonly root: InstanceRoot,
    readonly mirror: DiskMirror,
    readonly uploader: Uploader,
    readonly materializer: Materializer,
    readonly chunks: ChunkServer,
    readonly hook: OnChangeHook,
  ) {}

  static async start(opts: FileSyncOptions): Promise<FileSync> {
    const root = await InstanceRoot.open(opts.instance);
    const mirror = new DiskMirror();
    const trash = new Trash(root, mirror);
    await trash.reset();
    const hook = new OnChangeHook({ command: opts.onChange, url: opts.onChangeUrl, log: opts.log });
    let self: FileSync | null = null;
    const builtins = memoMatcher(createIgnoreMatcher(null));
    const matcher = (): IgnoreMatcher => self?.matcher ?? builtins;
    const uploader = new Uploader({
      root,
      mirror,
      api: opts.api,
      matcher,
      log: opts.log,
      settleMs: opts.settleMs,
      onFolder: (p) => void self?.watch?.addTree(p),
      onVanished: (p) => self?.folderGone(p),
      onConflicts: (paths) => self?.materializer.retryNow(paths),
    });
    const materializer = new Materializer({
      root,
      mirror,
      trash,
      api: opts.api,
      matcher,
      log: opts.log,
      foldsCase: opts.foldsCase ?? (await foldsCase(root.dir)),
      onLanded: (paths) => {
        // A received .syncignore takes effect before its watch event comes round.
        if (paths.includes(SYNCIGNORE_PATH)) self?.reloadIgnore();
        // The watcher never reports a file that was gone before it looked (an app that consumes
        // what arrives): look again once its window has passed.
        uploader.recheckSoon(paths);
        hook.add(paths);
      },
      pollMs: opts.pollMs,
    });
    const chunks = await startChunkServer({
      token: opts.token,
      getBlock: (hash) => readLocalBlock(root, mirror, hash, blockBuffers),
      sent: (block) => blockBuffers.give(block),
      onWake: (page) => materializer.wake(page),
      log: opts.log,
    });
    self = new FileSync(opts, root, mirror, uploader, materializer, chunks, hook);
    self.started = self.init();
    return self;
  }

  /** Resolves once the first scan is done and the materializer runs (tests). */
  ready(): Promise<void> {
    return this.started ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.rescan !== null) clearInterval(this.rescan);
    this.wakeInit?.();
    await this.started?.catch(() => undefined);
    this.watch?.close();
    await Promise.all([this.uploader.stop(), this.materializer.stop(), this.hook.stop()]);
    await this.chunks.close();
  }

  private async init(): Promise<void> {
    const log = new FailureLog("starting file sync", this.opts.log);
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await this.opts.api.hello(this.chunks.port);
        await this.loadManifest();
        log.success();
        break;
      } catch (err) {
        log.failure(err instanceof Error ? err.message : String(err));
        await new Promise<void>((r) => {
          this.wakeInit = r;
          setTimeout(r, backoffDelay(attempt, 250, 5_000));
        });
      }
    }
    if (this.stopped) return;
    this.matcher = memoMatcher(await this.readSyncignore());
    await this.startWatch();
    await this.reconcile();
    this.materializer.start();
    // A safety net under the watcher: events can be lost (inotify queue overflow, a watch that
    // failed for lack of inotify instances), and a stat-only rescan finds what they missed.
    const drainLimit = burstDrainLimit(maxQueuedEvents());
    this.rescan = setInterval(() => {
      const { at, biggestDrain } = this.sinceRescan;
      if (this.reloading !== null || !rescanDue({ sinceMs: Date.now() - at, biggestDrain, drainLimit, trouble: this.watchTrouble })) return;
      void this.reconcile().catch((err: unknown) => this.opts.log(`rescanning ${this.root.dir}: ${err instanceof Error ? err.message : String(err)}`));
    }, RESCAN_SOON_MS);
    this.rescan.unref();
  }

  private async loadManifest(): Promise<void> {
    for await (const row of this.opts.api.manifest()) {
      if (row.diskHash === DIR_MARK) this.mirror.addDir(row.path);
      if (row.diskHash === null || row.diskHash === DIR_MARK || row.diskSize === null || row.diskMtimeMs === null) continue;
      this.mirror.set(row.path, { size: row.diskSize, mtimeMs: row.diskMtimeMs, hash: row.diskHash, blocks: row.diskBlocks });
    }
  }

  private async readSyncignore(): Promise<IgnoreMatcher> {
    let text: string | null = null;
    try {
      const opened = await this.root.openRead(SYNCIGNORE_PATH);
      if (opened !== null) {
        try {
          text = readFileSync(opened.fd, "utf8");
        } finally {
          closeSync(opened.fd);
        }
      }
    } catch (err) {
      this.opts.log(`cannot read ${SYNCIGNORE_PATH}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const m = createIgnoreMatcher(text);
    for (const e of m.errors) this.opts.log(`${SYNCIGNORE_PATH} line ${e.line} ignored (${JSON.stringify(e.pattern)}): ${e.message}`);
    return m;
  }

  private async startWatch(): Promise<void> {
    this.watchTrouble = false;
    this.watch = new FolderWatch({
      root: this.root,
      ignores: (p, isDir) => this.matcher.ignores(p, isDir),
      onPath: (p) => {
        this.uploader.notice(p);
        if (p === SYNCIGNORE_PATH) this.reloadIgnore();
      },
      onDrain: (n) => {
        this.sinceRescan.biggestDrain = Math.max(this.sinceRescan.biggestDrain, n);
      },
      onError: (err) => {
        this.watchTrouble = true;
        this.opts.log(`watching ${this.root.dir}: ${err instanceof Error ? err.message : String(err)}`);
      },
    });
    await this.watch.start();
  }

  /** A folder went away (removed or moved out): every file and folder known under it is gone too. */
  private folderGone(dir: string): void {
    for (const p of this.mirror.inside(dir)) this.uploader.notice(p);
  }

  /**
   * Compares the folder with what the manifest last saw: new or changed files (by size and
   * mtime) are hashed and reported, new folders reported, files and folders that are gone are
   * reported deleted.
   */
  private async reconcile(): Promise<void> {
    this.sinceRescan = { at: Date.now(), biggestDrain: 0 };
    const scan = await scanFolder(this.root, this.matcher);
    for (const r of scan.refused) this.opts.log(`not syncing ${r.path}: ${r.reason}`);
    const changed: string[] = [];
    for (const [p, st] of scan.files) {
      const known = this.mirror.get(p);
      if (known === undefined || !sameStat(known, st)) changed.push(p);
    }
    for (const p of this.mirror.paths()) {
      if (!scan.files.has(p) && !p.startsWith(`${TRASH_DIR}/`) && !this.matcher.ignores(p)) changed.push(p);
    }
    for (const d of scan.dirs) if (!this.mirror.hasDir(d)) changed.push(d);
    for (const d of this.mirror.dirPaths()) if (!scan.dirs.has(d) && !this.matcher.ignores(d, true)) changed.push(d);
    this.uploader.noticeNow(changed, scan.dirs);
    await this.uploader.idle();
  }

  /** .syncignore changed: new rules for the watcher, and a rescan for files no longer excluded. */
  private reloadIgnore(): void {
    if (this.stopped) return;
    if (this.reloading !== null) {
      this.reloadAgain = true;
      return;
    }
    this.reloading = (async () => {
      do {
        this.reloadAgain = false;
        // The new rules apply from the very next event; the new watch and the rescan follow.
        this.matcher = memoMatcher(await this.readSyncignore());
        this.watch?.close();
        if (this.stopped) return;
        await this.startWatch();
        await this.reconcile();
      } while (this.reloadAgain && !this.stopped);
    })()
      .catch((err: unknown) => this.opts.log(`reloading ${SYNCIGNORE_PATH}: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => {
        this.reloading = null;
      });
  }
}

/** Wires file sync to this site: its instance folder and its worker on loopback. */
export function startFileSync(config: ChildConfig, token: string, log: (line: string) => void): Promise<FileSync> {
  const site = config.site;
  return FileSync.start({
    instance: site.instance,
    api: localFilesApi({ host: site.host, port: site.port, token }),
    token,
    log,
    onChange: site.onChange,
    onChangeUrl: site.onChangeUrl,
  });
}

