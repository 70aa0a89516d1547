// The connections of one served database file: opened on demand, one per stream, and a few
// idle ones kept so that short streams (one `client.execute`) do not reopen the file.

import { Checkpointer } from "./checkpointer.js";
import { Connection, WAL_KEEP_BYTES } from "./connection.js";
import { sqliteErrorCode } from "./errors.js";

const MAX_IDLE = 4;
const WAL_RETRY_MS = 10_000;
/**
 * The WAL a long stream of writes may grow to before a writer copies it back itself. The thread
 * copies as the writes go, but the WAL starts over only when a write finds all of it copied,
 * which a stream that never pauses seldom gives it: a 1.2 M-row initial sync grew it to 400 MB
 * (B9), and a larger one would grow it further. Past this size the stream's next release copies
 * the little the thread has not, so the next write starts the WAL over (and cuts the file back).
 */
const WAL_MAX_BYTES = 256 * 1024 * 1024;
/** Quiet time after a stream before what it wrote is copied back, and the idle connections' caches are freed. */
const QUIET_MS = 1_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class DatabasePool {
  readonly #idle: Connection[] = [];
  #closed = false;
  #quiet: ReturnType<typeof setTimeout> | undefined;
  /** A stream wrote since the last quiet moment. */
  #unsaved = false;
  readonly checkpointer: Checkpointer;
  /** Connections handed out and not yet released. */
  active = 0;

  readonly #walMaxBytes: number;

  readonly #onQuiet: () => void;

  /** `walMaxBytes` replaces WAL_MAX_BYTES (tests). `onQuiet` runs at each quiet moment, after the caches were handed back. */
  constructor(
    readonly name: string,
    readonly file: string,
    opts: { walMaxBytes?: number; onQuiet?: () => void } = {},
  ) {
    this.checkpointer = new Checkpointer(file, { walBytes: WAL_KEEP_BYTES });
    this.#walMaxBytes = opts.walMaxBytes ?? WAL_MAX_BYTES;
    this.#onQuiet = opts.onQuiet ?? (() => undefined);
  }

  /**
   * Creates the file if needed and switches it to WAL. Opening (its first statements read the
   * schema) and the switch (a moment without other writers) can meet SQLITE_BUSY while the app is
   * writing, or while another process opens the file: retried for a while.
   */
  async init(): Promise<void> {
    const deadline = Date.now() + WAL_RETRY_MS;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      let conn: Connection | undefined;
      try {
        conn = new Connection(this.file);
        const rows = conn.queryUncached("PRAGMA journal_mode=WAL");
        const mode = String(rows[0]?.[0] ?? "").toLowerCase();
        if (mode !== "wal") throw new Error(`${this.file}: could not switch to WAL (journal_mode is ${mode})`);
        this.#idle.push(conn);
        return;
      } catch (e) {
        conn?.close();
        if (sqliteErrorCode(e)?.startsWith("SQLITE_BUSY") !== true || Date.now() > deadline) throw e;
        await sleep(delay);
      }
    }
  }

  acquire(): Connection {
    if (this.#closed) throw new Error(`database ${this.name} is closed`);
    this.active++;
    const idle = this.#idle.pop();
    if (idle !== undefined) return idle;
    try {
      return new Connection(this.file);
    } catch (e) {
      this.active--;
      throw e;
    }
  }

  /** Takes a connection back: rolled back, and kept only if nothing of its stream can leak into the next one. */
  release(conn: Connection): void {
    this.active--;
    if (conn.closed) return;
    // Idle connections run nothing that writes, so the last look was this stream's start.
    const wrote = conn.wroteSinceLastLook();
    const clean = conn.rollback() && !conn.tainted && !conn.dirty;
    // A stream that wrote may have filled the WAL; one that only read costs nothing.
    if (wrote) {
      this.#unsaved = true;
      const wal = this.checkpointer.walSize();
      if (wal > this.#walMaxBytes) this.#checkpointOn(clean ? conn : this.#idle[0]);
      else if (wal > WAL_KEEP_BYTES) this.checkpointer.request();
    }
    if (clean && !this.#closed && this.#idle.length < MAX_IDLE) {
      this.#idle.push(conn);
    } else {
      conn.close();
    }
    this.#quietSoon();
  }

  /**
   * Once no stream has ended for QUIET_MS: what was written since the last look is copied back
   * into the database file (a copy of the file alone then holds it), by the thread when the WAL
   * is large, here when it is not (a few pages, nearly free); and the idle connections' page
   * caches handed back (up to 32 MiB each after a catch-up; an idle site should not hold them, B7).
   */
  #quietSoon(): void {
    clearTimeout(this.#quiet);
    this.#quiet = setTimeout(() => {
      if (this.#closed || this.active > 0) return;
      if (this.#unsaved) {
        this.#unsaved = false;
        if (this.checkpointer.walOver()) this.checkpointer.request();
        else this.#checkpointOn(this.#idle[0]);
      }
      for (const conn of [...this.#idle]) {
        try {
          conn.queryUncached("PRAGMA shrink_memory");
        } catch {
          this.#idle.splice(this.#idle.indexOf(conn), 1);
          conn.close();
        }
      }
      this.#onQuiet();
    }, QUIET_MS);
    this.#quiet.unref();
  }

  /** A passive checkpoint on `conn`, here: it never waits; what it cannot copy now is copied at a later quiet moment. */
  #checkpointOn(conn: Connection | undefined): void {
    try {
      conn?.queryUncached("PRAGMA wal_checkpoint(PASSIVE)");
    } catch {
      this.#unsaved = true;
    }
  }

  close(): void {
    this.checkpointer.close();
    clearTimeout(this.#quiet);
    this.#closed = true;
    for (const conn of this.#idle.splice(0)) conn.close();
  }
}
