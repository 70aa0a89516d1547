/**
 * The site's clock. Workers have no sub-second timers, so the agent tells the local worker when
 * to work: at once after every commit to the app database (capture, then push), and every
 * couple of seconds for anti-entropy (pull, health checks). It holds no sync logic itself.
 */
import { Coalesced } from "./coalesce.js";
import { DbWatch } from "./db-watch.js";
import { FailureLog } from "./failure-log.js";
import { callLocal, errorMessage, retryStale, type LocalTarget } from "./http.js";
import { Ticker } from "./ticker.js";
import type { Timers } from "./timers.js";

export const CAPTURE_PATH = "/api/sync/database/capture";
export const TICK_PATH = "/api/sync/tick";

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
  /** Runs when the worker's tick says a burst of work is over (its `settled`): a full GC, where exposed. */
  collect?: () => void;
}

export class Agent {
  readonly capture: Coalesced;
  readonly ticker: Ticker;
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
      await opts.post(CAPTURE_PATH);
      this.capturedAt = view?.schema ?? null;
    }, {
      onError: (err) => captureLog.failure(describe(err)),
      onSuccess: () => captureLog.success(),
      timers: opts.timers,
    });
    this.ticker = new Ticker(async () => {
      const answer = await opts.post(TICK_PATH);
      if (field(answer, "settled") === true) opts.collect?.();
      return nextTickHint(answer);
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
    await Promise.all([this.capture.stop(), this.ticker.stop()]);
  }
}

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
