/**
 * Retry delays while the worker fails: doubling from `baseMs` to `capMs`, then jittered into
 * the upper half so a dead worker is not hammered and two agents on one machine drift apart.
 */
export function backoffDelay(failures: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const full = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return Math.round(full / 2 + (random() * full) / 2);
}
