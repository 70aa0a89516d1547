/**
 * A periodic async call (the anti-entropy tick): every `intervalMs` while it succeeds, backing
 * off up to `capMs` while it fails. Never overlaps itself: the next tick is scheduled only after
 * the previous one has finished. A call may answer with the delay it wants before the next tick
 * (the worker knows when nothing is pending and a slower idle tick would do).
 */
import { backoffDelay } from "./backoff.js";
import { realTimers, type Timers } from "./timers.js";

export interface TickerOptions {
  intervalMs: number;
  capMs: number;
  onError(err: unknown): void;
  onSuccess(): void;
  timers?: Timers;
}

export class Ticker {
  private timer: unknown = null;
  private running: Promise<boolean> | null = null;
  private failures = 0;
  private hintMs: number | null = null;
  private started = false;
  private readonly timers: Timers;

  constructor(
    private readonly call: () => Promise<number | void>,
    private readonly opts: TickerOptions,
  ) {
    this.timers = opts.timers ?? realTimers;
  }

  /** Starts ticking with one tick right away: a site that was away catches up before anything else. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.schedule(0);
  }

  /** One tick now (waits for one in flight instead of overlapping). True on success. */
  tickOnce(): Promise<boolean> {
    if (this.running !== null) return this.running;
    this.running = this.call()
      .then(
        (hint) => {
          this.failures = 0;
          this.hintMs = typeof hint === "number" && Number.isFinite(hint) ? Math.min(Math.max(hint, 100), this.opts.capMs) : null;
          this.opts.onSuccess();
          return true;
        },
        (err: unknown) => {
          this.failures++;
          this.opts.onError(err);
          return false;
        },
      )
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  /** The delay before the next tick, given the failures so far. */
  nextDelay(): number {
    if (this.failures > 0) return backoffDelay(this.failures, this.opts.intervalMs, this.opts.capMs);
    return this.hintMs ?? this.opts.intervalMs;
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    if (this.running !== null) await this.running;
  }

  private schedule(ms: number): void {
    this.timer = this.timers.set(() => {
      this.timer = null;
      void this.tickOnce().then(() => {
        if (this.started) this.schedule(this.nextDelay());
      });
    }, ms);
  }
}
