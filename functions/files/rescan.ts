/**
 * When the agent compares the whole instance folder with the manifest (a stat of every file).
 * The watcher reports changes as they happen; the rescan is the safety net for what it can
 * miss: nothing while it is healthy, events dropped when inotify's queue overflows, everything
 * when a watch failed. So it runs rarely while the watch is healthy (a rescan of 10,000 files
 * costs the agent about 0.4 s of CPU; at every minute that was most of an idle site's CPU, B7)
 * and soon after trouble. Syncthing rescans hourly beside its watcher.
 */

/** Rescans of a folder whose watcher is healthy and quiet. */
export const RESCAN_IDLE_MS = 10 * 60_000;
/** Rescans after the watcher reported an error or a burst that may have overflowed its queue. */
export const RESCAN_SOON_MS = 60_000;
/**
 * inotify's queue (fs.inotify.max_queued_events, 16,384 by default) drops what comes after it is
 * full. The agent's runtime reads the whole queue each time it looks (until the read finds it
 * empty), so an overflow shows as one drain of at least a queue's worth of events. A burst the
 * agent keeps up with lost nothing (B7's 10,000 files came in drains of at most 131 events), and
 * rescanning after it doubled an idle site's CPU over the next minute (B7: 0.63 % → 0.32 %).
 * A drain of a quarter of the queue leaves room for events the count misses.
 */
export function burstDrainLimit(maxQueuedEvents: number): number {
  return Math.max(1, Math.floor(maxQueuedEvents / 4));
}

export const DEFAULT_MAX_QUEUED_EVENTS = 16_384;

export interface WatchHealth {
  /** Milliseconds since the last rescan started. */
  sinceMs: number;
  /** The most watcher events one drain of the queue delivered since then. */
  biggestDrain: number;
  /** burstDrainLimit of this machine's queue. */
  drainLimit: number;
  /** The watcher has reported an error: until it is started again it may miss changes. */
  trouble: boolean;
}

export function rescanDue(h: WatchHealth): boolean {
  if (h.sinceMs >= RESCAN_IDLE_MS) return true;
  return h.sinceMs >= RESCAN_SOON_MS && (h.trouble || h.biggestDrain >= h.drainLimit);
}
