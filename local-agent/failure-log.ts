/**
 * Logs a loop's failures without flooding: the first failure at once, then at most one line per
 * interval with a count of what was left out, and one line when it works again. A worker that
 * is down for an hour costs a handful of lines, not 1,800.
 */
export class FailureLog {
  private failures = 0;
  private suppressed = 0;
  private lastLoggedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly what: string,
    private readonly log: (line: string) => void,
    private readonly intervalMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  failure(reason: string): void {
    this.failures++;
    const t = this.now();
    if (t - this.lastLoggedAt < this.intervalMs) {
      this.suppressed++;
      return;
    }
    const more = this.suppressed > 0 ? ` (${this.suppressed} similar failures since the last report)` : "";
    this.log(`${this.what} failed: ${reason}${more}`);
    this.lastLoggedAt = t;
    this.suppressed = 0;
  }

  success(): void {
    if (this.failures > 0) this.log(`${this.what} works again after ${this.failures} failed attempt(s)`);
    this.failures = 0;
    this.suppressed = 0;
    this.lastLoggedAt = Number.NEGATIVE_INFINITY;
  }

  get failing(): number {
    return this.failures;
  }
}
