// Copies the WAL back into the database file on a thread of its own.
//
// SQLite's default has the committing connection copy the WAL back (a checkpoint) whenever it
// holds 1,000 pages or more. A catch-up commits thousands of rows per transaction, touching
// pages all over the table and the version rows: each commit wrote ~27 MB of WAL (B8) and then
// copied them all back, with its fsyncs, before the next page could start. That copy was a third
// of the apply. Our connections never checkpoint (wal_autocheckpoint=0, connection.ts); this
// thread does, with its own connection, while the server goes on, once a write leaves more than
// SQLite's 1,000 pages in the WAL: at most one checkpoint at a time and one per GAP_MS, so a page
// rewritten by several commits is copied once. PASSIVE: it never waits for, nor blocks, a reader
// or a writer (the app's included); what it cannot copy yet is copied next time.

import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** Least time between two checkpoints while writes go on (SQLite would copy at every 1,000 pages). */
const GAP_MS = 1_000;
/** Checkpoints in a row that may find frames they could not copy before the thread waits for a write. */
const RETRIES = 5;
/** A thread with nothing to do for this long ends (an idle site should not hold it, B7). */
const IDLE_EXIT_MS = 10_000;

// CommonJS, evaluated by the thread: its own `libsql` connection, one checkpoint per message.
const THREAD_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.libsql);
const db = new Database(workerData.file);
db.exec("PRAGMA busy_timeout=0; PRAGMA wal_autocheckpoint=0");
const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)").raw(true);
parentPort.on("message", (m) => {
  if (m === "close") { db.close(); parentPort.close(); return; }
  try { parentPort.postMessage({ ok: checkpoint.get() }); } catch (e) { parentPort.postMessage({ error: String(e && e.message || e) }); }
});
`;

/** What one checkpoint reported: SQLite's (busy, frames in the WAL, frames copied back), or its error. */
export type CheckpointResult = { ok: [number, number, number] } | { error: string };

/** A result handler that logs failures: a failing checkpoint fails again at every write, so once, and again when the reason changes. */
export function failureReporter(name: string, log: (line: string) => void): (r: CheckpointResult) => void {
  let last: string | null = null;
  return (r) => {
    const error = "error" in r ? r.error : null;
    if (error !== null && error !== last) log(`checkpoint of ${name} failed: ${error}`);
    last = error;
  };
}

export class Checkpointer {
  #worker: Worker | null = null;
  #running = false;
  #wanted = false;
  #lastAt = -Infinity;
  #retries = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #idle: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Every result, for tests and the db server's log. */
  onResult: (r: CheckpointResult) => void = () => undefined;

  readonly #walBytes: number;
  readonly #gapMs: number;
  readonly #idleExitMs: number;

  /** `walBytes`: see walOver; `gapMs` and `idleExitMs` replace GAP_MS and IDLE_EXIT_MS (tests). */
  constructor(
    readonly file: string,
    opts: { walBytes?: number; gapMs?: number; idleExitMs?: number } = {},
  ) {
    this.#walBytes = opts.walBytes ?? 0;
    this.#gapMs = opts.gapMs ?? GAP_MS;
    this.#idleExitMs = opts.idleExitMs ?? IDLE_EXIT_MS;
  }

  /** Whether the thread is running (it starts at the first request and ends when idle). */
  get hasThread(): boolean {
    return this.#worker !== null;
  }

  /**
   * Whether the WAL is larger than `bytes` (by default `walBytes`: what our connections cut it
   * back to once it is copied, so past that it holds at least that much not copied yet). Less is
   * left to the pool's quiet moment: a thread started for every few pages (a tick's write, one
   * row of the app's) would cost an idle site more than the copying.
   */
  walOver(bytes = this.#walBytes): boolean {
    return this.walSize() > bytes;
  }

  /** The WAL's size in bytes (0 when there is none). */
  walSize(): number {
    try {
      return statSync(`${this.file}-wal`).size;
    } catch {
      return 0;
    }
  }

  /** Asks for a checkpoint: now if none ran within GAP_MS (and none is running), else once that allows. */
  request(): void {
    if (this.#closed) return;
    this.#wanted = true;
    this.#schedule();
  }

  /** Requests that come in while one runs fold into the next run. */
  #schedule(): void {
    if (this.#running || this.#timer !== undefined || !this.#wanted) return;
    const wait = this.#lastAt + this.#gapMs - Date.now();
    if (wait > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#schedule();
      }, wait);
      this.#timer.unref();
      return;
    }
    this.#wanted = false;
    this.#running = true;
    clearTimeout(this.#idle);
    this.#thread().postMessage("run");
  }

  #thread(): Worker {
    if (this.#worker !== null) return this.#worker;
    const libsql = createRequire(import.meta.url).resolve("libsql");
    const worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { libsql, file: this.file } });
    worker.unref();
    worker.on("message", (r: CheckpointResult) => this.#done(r));
    // A thread that failed (it could not open the file, say) is replaced at the next request.
    worker.on("error", (e: unknown) => this.#lost(worker, e instanceof Error ? e.message : String(e)));
    worker.on("exit", () => this.#lost(worker, "checkpoint thread exited"));
    this.#worker = worker;
    return worker;
  }

  #done(r: CheckpointResult): void {
    this.#running = false;
    this.#lastAt = Date.now();
    this.onResult(r);
    // A reader on an older snapshot (the app's, say) kept some frames from being copied: try
    // again a few times, or the rest would wait for our next write.
    const short = "ok" in r && r.ok[2] < r.ok[1];
    this.#retries = short ? this.#retries + 1 : 0;
    if (short && this.#retries <= RETRIES) this.#wanted = true;
    if (this.#wanted) return this.#schedule();
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.#stopThread(), this.#idleExitMs);
    this.#idle.unref();
  }

  #lost(worker: Worker, why: string): void {
    if (this.#worker !== worker) return;
    this.#worker = null;
    if (this.#running) this.#done({ error: why });
  }

  #stopThread(): void {
    const worker = this.#worker;
    if (worker === null || this.#running) return;
    this.#worker = null;
    worker.postMessage("close");
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#idle);
    this.#timer = undefined;
    const worker = this.#worker;
    this.#worker = null;
    // A checkpoint cut short leaves the WAL as it was (SQLite records progress only after its sync).
    void worker?.terminate();
  }
}
