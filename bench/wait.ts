/** Bounded waiting. Every wait in the benchmarks has a deadline and says what it waited for. */

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class TimeoutError extends Error {}

/**
 * Calls `probe` every `everyMs` until it returns something other than undefined/false, or
 * throws a TimeoutError after `timeoutMs`. `everyMs` of 1 is a tight poll (a timer of ~1 ms).
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > deadline) throw new TimeoutError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The time from `t0` until `probe` holds, polled every ~1 ms; null when it did not within `timeoutMs`. */
export async function latencyUntil(t0: number, probe: () => boolean, timeoutMs: number, everyMs = 1): Promise<number | null> {
  const deadline = t0 + timeoutMs;
  for (;;) {
    if (probe()) return performance.now() - t0;
    if (performance.now() > deadline) return null;
    await sleep(everyMs);
  }
}

/**
 * Like waitFor with a synchronous probe, but sleeps at least `factor` times what the probe took:
 * counting a million rows every 10 ms would take a core away from the sites being measured.
 * Resolves with the time the probe first held.
 */
export async function waitPolite(what: string, probe: () => boolean, timeoutMs: number, minEveryMs = 5, factor = 10): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const t = performance.now();
    if (probe()) return t;
    const took = performance.now() - t;
    if (performance.now() > deadline) throw new TimeoutError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(Math.max(minEveryMs, took * factor));
  }
}
