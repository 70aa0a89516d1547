import { describe, expect, it } from "vitest";
import { burstDrainLimit, DEFAULT_MAX_QUEUED_EVENTS, RESCAN_IDLE_MS, RESCAN_SOON_MS, rescanDue } from "../../functions/files/rescan.js";

const limit = burstDrainLimit(DEFAULT_MAX_QUEUED_EVENTS);

describe("when the instance folder is rescanned beside its watcher", () => {
  it("rarely while the watch is healthy and quiet, however many events came in drains the queue held with room to spare", () => {
    expect(rescanDue({ sinceMs: RESCAN_SOON_MS, biggestDrain: 3, drainLimit: limit, trouble: false })).toBe(false);
    expect(rescanDue({ sinceMs: RESCAN_IDLE_MS - 1, biggestDrain: limit - 1, drainLimit: limit, trouble: false })).toBe(false);
    expect(rescanDue({ sinceMs: RESCAN_IDLE_MS, biggestDrain: 0, drainLimit: limit, trouble: false })).toBe(true);
  });

  it("soon after the watcher reported an error, or a drain that may have overflowed its queue; never back to back", () => {
    expect(rescanDue({ sinceMs: RESCAN_SOON_MS, biggestDrain: 0, drainLimit: limit, trouble: true })).toBe(true);
    expect(rescanDue({ sinceMs: RESCAN_SOON_MS, biggestDrain: limit, drainLimit: limit, trouble: false })).toBe(true);
    expect(rescanDue({ sinceMs: RESCAN_SOON_MS - 1, biggestDrain: 100 * limit, drainLimit: limit, trouble: true })).toBe(false);
  });

  it("takes a quarter of the machine's inotify queue as a drain that may have overflowed it", () => {
    expect(limit).toBe(4096);
    expect(burstDrainLimit(1024)).toBe(256);
    expect(burstDrainLimit(1)).toBe(1);
  });
});
