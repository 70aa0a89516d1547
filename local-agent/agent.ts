/**
 * The site's clock. Workers have no sub-second timers, so the agent tells the local worker when
 * to work: at once after every commit to the app database (capture, then push), and every
 * couple of seconds for anti-entropy (pull, health checks). It holds no sync logic itself.
 */
import { Coalesced } from "./coalesce.js";
import type { HeapKeeper } from "./collect.js";
import { DbWatch } from "./db-watch.js";
import { FailureLog } from "./failure-log.js";
import { callLocal, errorMessage, retryStale, type LocalTarget } from "./http.js";
import { Ticker } from "./ticker.js";
import { realTimers, type Timers } from "./timers.js";

export const CAPTURE_PATH = "/api/sync/database/capture";
export const CAPTURE_PENDING_PATH = `${CAPTURE_PATH}?pending=1`;
export const TICK_PATH = "/api/sync/tick";
export const SETTLE_PATH = "/api/sync/settle";

/** POST to the local worker; resolves with the JSON body on 2xx, throws with the worker's reason otherwise. */
export type Poster = (pathname: string) => Promise<unknown>;

export interface AgentOptions {
  post: Poster;
  log(line: string): void;
  /** The app database to watch; omitted in tests that drive capture by hand. */
  dbFile?: string;
  tickMs?: number;
  tickCapMs?: number;
  pollMs?: number;
  logIntervalMs?: number;
  timers?: Timers;
  /**
   * A full GC when the worker says a burst of work is over (its `settled`), and one at a quiet
   * tick after work of the agent's own (collect.ts).
   */
  heap?: HeapKeeper;
}

export class Agent {
  readonly capture: Coalesced;
  readonly ticker: Ticker;
  private readonly settler: Settler;
  private readonly watch: DbWatch | null;
  /** The schema version the last capture call was made at (a schema change needs one: new tables get their triggers). */
  private capturedAt: number | null = null;

  constructor(opts: AgentOptions) {
    const captureLog = new FailureLog("database capture", opts.log, opts.logIntervalMs);
    const tickLog = new FailureLog("sync tick", opts.log, opts.logIntervalMs);
    const watchLog = new FailureLog(`reading ${opts.dbFile ?? "the database"}`, opts.log, opts.logIntervalMs);
    this.capture = new Coalesced(async () => {
      const view = this.watch?.captureView() ?? null;
      // Nothing for capture since the last call (the commit was the worker's own apply of
      // received rows, written with capture muted): no call. Every site a change reached made
      // one, a request through agent, worker and database each (B3).
      if (view !== null && !view.logged && view.schema === this.capturedAt) return;
      // Writes seen waiting: the worker need not look again before it captures them.
      await opts.post(view?.logged ? CAPTURE_PENDING_PATH : CAPTURE_PATH);
      this.capturedAt = view?.schema ?? null;
    }, {
      onError: (err) => captureLog.failure(describe(err)),
      onSuccess: () => captureLog.success(),
      timers: opts.timers,
    });
    const settleLog = new FailureLog("memory settle call", opts.log, opts.logIntervalMs);
    this.settler = new Settler({
      post: opts.post,
      collect: () => opts.heap?.collect(),
      timers: opts.timers ?? realTimers,
      onError: (err) => settleLog.failure(describe(err)),
    });
    this.ticker = new Ticker(async () => {
      try {
        const answer = await opts.post(TICK_PATH);
        this.settler.heard(answer);
        return nextTickHint(answer);
      } finally {
        opts.heap?.collectWhenQuiet();
      }
    }, {
      intervalMs: opts.tickMs ?? 2_000,
      capMs: opts.tickCapMs ?? 30_000,
      onError: (err) => tickLog.failure(describe(err)),
      onSuccess: () => tickLog.success(),
      timers: opts.timers,
    });
    this.watch =
      opts.dbFile === undefined
        ? null
        : new DbWatch(
            opts.dbFile,
            () => {
              watchLog.success();
              this.capture.trigger();
            },
            { pollMs: opts.pollMs, onError: (err) => watchLog.failure(describe(err)) },
          );
  }

  start(): void {
    this.watch?.start();
    this.ticker.start();
  }

  /** One full round now, whatever the watch saw: a capture (unless there is nothing for it), then one tick. */
  async syncOnce(): Promise<{ ticked: boolean }> {
    this.watch?.check();
    await this.capture.flush();
    return { ticked: await this.ticker.tickOnce() };
  }

  async stop(): Promise<void> {
    this.watch?.stop();
    this.settler.stop();
    await Promise.all([this.capture.stop(), this.ticker.stop()]);
  }
}

/**
 * Follows the worker's word on bursts of work (worker/memory.ts): an answer may ask for a settle
 * call in `settleInMs`, and says `settled` when the worker collected after a burst; the agent then
 * collects its own heap. At most one call is scheduled, the latest request wins; a failed call is
 * only logged (the next tick that sees work asks again).
 */
class Settler {
  private timer: unknown = null;
  private stopped = false;

  constructor(private readonly opts: { post: Poster; collect: () => void; timers: Timers; onError(err: unknown): void }) {}

  heard(answer: unknown): void {
    if (field(answer, "settled") === true) this.opts.collect();
    const ms = field(answer, "settleInMs");
    if (typeof ms !== "number" || this.stopped) return;
    if (this.timer !== null) this.opts.timers.clear(this.timer);
    this.timer = this.opts.timers.set(() => {
      this.timer = null;
      this.opts.post(SETTLE_PATH).then((next) => this.heard(next), this.opts.onError);
    }, Math.min(Math.max(ms, 0), MAX_SETTLE_MS));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.opts.timers.clear(this.timer);
    this.timer = null;
  }
}

/** A worker asking for a later settle call than this is taken at this. */
const MAX_SETTLE_MS = 60_000;

/** The production poster: loopback HTTP to our own worker with the admin token. */
export function localPoster(target: LocalTarget, timeoutMs = 120_000): Poster {
  return async (pathname) => {
    // Capture and tick are idempotent: one immediate retry on a fresh connection is safe, and
    // saves a backoff (and a log line) on the latency path.
    const res = await retryStale(() => callLocal(target, "POST", pathname, {}, timeoutMs));
    if (res.status < 200 || res.status >= 300) throw new Error(`${pathname}: ${errorMessage(res)}`);
    return res.json;
  };
}

function field(body: unknown, name: string): unknown {
  return body !== null && typeof body === "object" ? (body as Record<string, unknown>)[name] : undefined;
}

/** The tick answer may carry `nextTickMs`: the worker's wish for the next tick's delay. */
function nextTickHint(body: unknown): number | undefined {
  const v = field(body, "nextTickMs");
  return typeof v === "number" ? v : undefined;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    // fetch() hides the useful part (ECONNREFUSED...) in the cause.
    const cause = (err as Error & { cause?: unknown }).cause;
    const code = cause && typeof cause === "object" && "code" in cause ? ` (${String(cause.code)})` : "";
    return `${err.message}${code}`;
  }
  return String(err);
}
