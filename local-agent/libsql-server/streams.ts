// Hrana streams over HTTP: each stream owns one connection and is found again by its baton.
// A baton is random, good for exactly one request (each response carries a new one), and its
// stream is closed (rolled back, connection returned) after streamIdleMs without a request.

import { randomBytes } from "node:crypto";
import type { Connection } from "./connection.js";
import { HttpError } from "./errors.js";
import type { ExecContext } from "./execute.js";
import type { DatabasePool } from "./pool.js";

/** Batons no longer valid, remembered to tell "expired" and "already used" from "unknown". */
const RETIRED_LIMIT = 10_000;

export class Stream implements ExecContext {
  readonly sqls = new Map<number, string>();
  #conn: Connection | undefined;
  /** A `close` request was received: the stream ends with this pipeline. */
  closing = false;
  timer: NodeJS.Timeout | undefined;

  constructor(readonly pool: DatabasePool) {}

  connection(sql?: string): Connection {
    let conn = this.#conn;
    if (conn !== undefined && conn.staleBesides(sql) && !conn.inTransaction) {
      // Nothing of a transaction is lost; see connection.ts for why a tainted one is replaced.
      this.pool.release(conn);
      conn = undefined;
    }
    if (conn === undefined) {
      conn = this.pool.acquire();
      this.#conn = conn;
    }
    return conn;
  }

  isAutocommit(): boolean {
    return this.#conn === undefined || !this.#conn.inTransaction;
  }

  /** Rolls back whatever is open and gives the connection back to the pool. */
  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const conn = this.#conn;
    this.#conn = undefined;
    this.sqls.clear();
    if (conn !== undefined) this.pool.release(conn);
  }
}

export class StreamRegistry {
  readonly #parked = new Map<string, Stream>();
  readonly #retired = new Map<string, string>();
  readonly #all = new Set<Stream>();

  constructor(
    private readonly idleMs: number,
    private readonly maxStreams: number,
    private readonly log: (line: string) => void,
  ) {}

  get size(): number {
    return this.#all.size;
  }

  open(pool: DatabasePool): Stream {
    if (this.#all.size >= this.maxStreams) {
      throw new HttpError(503, "TOO_MANY_STREAMS", `too many open streams (${this.maxStreams}); close streams or retry later`);
    }
    const stream = new Stream(pool);
    this.#all.add(stream);
    return stream;
  }

  /** The stream of `baton`, which is used up by this call. */
  take(baton: string, pool: DatabasePool): Stream {
    const stream = this.#parked.get(baton);
    if (stream === undefined) {
      const why = this.#retired.get(baton);
      throw new HttpError(400, "STREAM_EXPIRED", why ?? "unknown baton: the stream does not exist (expired long ago, or never opened)");
    }
    if (stream.pool !== pool) {
      throw new HttpError(400, "BATON_INVALID", `the baton belongs to a stream of database "${stream.pool.name}", not "${pool.name}"`);
    }
    this.#parked.delete(baton);
    if (stream.timer !== undefined) clearTimeout(stream.timer);
    stream.timer = undefined;
    this.#retire(baton, "baton already used: each baton is good for one request; send the one from the latest response");
    return stream;
  }

  /** Parks a stream between requests and returns its new baton. */
  park(stream: Stream): string {
    const baton = randomBytes(24).toString("base64url");
    this.#parked.set(baton, stream);
    stream.timer = setTimeout(() => this.#expire(baton), this.idleMs);
    stream.timer.unref();
    return baton;
  }

  /** Closes the stream parked under `baton`: its client left before receiving that baton. */
  abandon(baton: string): void {
    const stream = this.#parked.get(baton);
    if (stream === undefined) return;
    this.#parked.delete(baton);
    this.#retire(baton, "the stream was closed: its client disconnected before the response");
    this.dispose(stream);
  }

  dispose(stream: Stream): void {
    stream.dispose();
    this.#all.delete(stream);
  }

  closeAll(): void {
    for (const stream of this.#all) stream.dispose();
    this.#all.clear();
    this.#parked.clear();
  }

  #expire(baton: string): void {
    const stream = this.#parked.get(baton);
    if (stream === undefined) return;
    this.#parked.delete(baton);
    const inTransaction = !stream.isAutocommit();
    this.#retire(baton, `stream expired: it was idle for more than ${this.idleMs} ms and has been closed${inTransaction ? " (its transaction was rolled back)" : ""}`);
    this.dispose(stream);
    this.log(`stream of database ${stream.pool.name} expired after ${this.idleMs} ms idle${inTransaction ? "; open transaction rolled back" : ""}`);
  }

  #retire(baton: string, why: string): void {
    this.#retired.set(baton, why);
    if (this.#retired.size > RETIRED_LIMIT) {
      const oldest = this.#retired.keys().next();
      if (oldest.done !== true) this.#retired.delete(oldest.value);
    }
  }
}
