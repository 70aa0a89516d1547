/**
 * Runs an async call on demand with at most one in flight: triggers that arrive during a call
 * collapse into exactly one more call after it. A burst of 1,000 commits therefore costs two
 * capture requests, and none is lost. On failure the call is retried after a backoff instead of
 * immediately, and triggers during the backoff wait for it.
 */
import { backoffDelay } from "./backoff.js";
import { realTimers, type Timers } from "./timers.js";

export interface CoalescedOptions {
  onError(err: unknown): void;
  onSuccess(): void;
  baseDelayMs?: number;
  capDelayMs?: number;
  timers?: Timers;
}

export class Coalesced {
  private running: Promise<void> | null = null;
  private pending = false;
  private failures = 0;
  private retry: unknown = null;
  private stopped = false;
  private readonly timers: Timers;

  constructor(
    private readonly call: () => Promise<void>,
    private readonly opts: CoalescedOptions,
  ) {
    this.timers = opts.timers ?? realTimers;
  }

  trigger(): void {
    if (this.stopped) return;
    if (this.running !== null || this.retry !== null) {
      this.pending = true;
      return;
    }
    this.run();
  }

  /** Trigger and wait until nothing is in flight. For tests and for a clean shutdown. */
  async flush(): Promise<void> {
    this.trigger();
    while (this.running !== null) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry !== null) this.timers.clear(this.retry);
    this.retry = null;
    while (this.running !== null) await this.running;
  }

  get inFlight(): boolean {
    return this.running !== null;
  }

  private run(): void {
    this.pending = false;
    this.running = this.once().finally(() => {
      this.running = null;
      if (!this.stopped && this.pending && this.retry === null) this.run();
    });
  }

  private async once(): Promise<void> {
    try {
      await this.call();
      this.failures = 0;
      this.opts.onSuccess();
    } catch (err) {
      this.failures++;
      this.opts.onError(err);
      // What failed still needs doing: retry later even if nothing new happens.
      this.pending = true;
      const delay = backoffDelay(this.failures, this.opts.baseDelayMs ?? 250, this.opts.capDelayMs ?? 30_000);
      this.retry = this.timers.set(() => {
        this.retry = null;
        if (!this.stopped && this.pending && this.running === null) this.run();
      }, delay);
    }
  }
}
