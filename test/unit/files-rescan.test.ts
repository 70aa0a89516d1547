import { describe, expect, it } from "vitest";
import { RESCAN_BURST_EVENTS, RESCAN_IDLE_MS, RESCAN_SOON_MS, rescanDue } from "../../functions/files/rescan.js";

describe("when the instance folder is rescanned beside its watcher", () => {
  it("rarely while the watch is healthy and quiet", () => {
    expect(rescanDue({ sinceMs: RESCAN_SOON_MS, events: 3, trouble: false })).toBe(false);
    expect(rescanDue({ sinceMs: RESCAN_IDLE_MS - 1, events: RESCAN_BURST_EVENTS - 1, trouble: false })).toBe(false);
    expect(rescanDue({ sinceMs: RESCAN_IDLE_MS, events: 0, trouble: false })).toBe(true);
  });

  it("soon after the watcher reported an error, or a burst that may have overflowed its queue; never back to back", () => {
    expect(rescanDue({ sinceMs: RESCAN_SOON_MS, events: 0, trouble: true })).toBe(true);
    expect(rescanDue({ sinceMs: RESCAN_SOON_MS, events: RESCAN_BURST_EVENTS, trouble: false })).toBe(true);
    expect(rescanDue({ sinceMs: RESCAN_SOON_MS - 1, events: 100 * RESCAN_BURST_EVENTS, trouble: true })).toBe(false);
  });
});
