/**
 * When the agent compares the whole instance folder with the manifest (a stat of every file).
 * The watcher reports changes as they happen; the rescan is the safety net for what it can
 * miss: nothing while it is healthy, events dropped when inotify's queue overflows in a big
 * burst, everything when a watch failed. So it runs rarely while the watch is healthy (a rescan of
 * 10,000 files costs the agent about 0.4 s of CPU; at every minute that was most of an idle site's
 * CPU, B7) and soon after trouble. Syncthing rescans hourly beside its watcher.
 */

/** Rescans of a folder whose watcher is healthy and quiet. */
export const RESCAN_IDLE_MS = 10 * 60_000;
/** Rescans after the watcher reported an error or a burst that may have overflowed its queue. */
export const RESCAN_SOON_MS = 60_000;
/**
 * Watcher events since the last rescan past which some may have been dropped. inotify queues
 * 16,384 events by default and drops what comes after, so a burst that overflowed it delivered
 * at least that many; the agent counts the events that name a syncing path (an app's write is
 * two or more: created, modified; a received file one in four, its temp file's being left out),
 * and rescans well before the count could stand for a full queue.
 */
export const RESCAN_BURST_EVENTS = 4_000;

export interface WatchHealth {
  /** Milliseconds since the last rescan started. */
  sinceMs: number;
  /** Watcher events since then (each names one path). */
  events: number;
  /** The watcher has reported an error: until it is started again it may miss changes. */
  trouble: boolean;
}

export function rescanDue(h: WatchHealth): boolean {
  if (h.sinceMs >= RESCAN_IDLE_MS) return true;
  return h.sinceMs >= RESCAN_SOON_MS && (h.trouble || h.events >= RESCAN_BURST_EVENTS);
}
