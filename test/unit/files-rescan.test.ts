import { describe, expect, it } from "vitest";
import { RESCAN_BURST_PATHS, RESCAN_IDLE_MS, RESCAN_SOON_MS, rescanDue } from "../../functions/files/rescan.js";

describe("when the instance folder is rescanned beside its watcher", () => {
  it("rarely while the watch is healthy and quiet", () => {
    expect(rescanDue({ sinceMs: RESCAN_SOON_MS, paths: 3, trouble: false })).toBe(false);
    expect(rescanDue({ sinceMs: RESCAN_IDLE_MS - 1, paths: RESCAN_BURST_PATHS - 1, trouble: false })).toBe(false);
    expect(rescanDue({ sinceMs: RESCAN_IDLE_MS, paths: 0, trouble: false })).toBe(true);
  });

  it("soon after the watcher reported an error, or a burst that may have overflowed its queue; never back to back", () => {
    expect(rescanDue({ sinceMs: RESCAN_SOON_MS, paths: 0, trouble: true })).toBe(true);
    expect(rescanDue({ sinceMs: RESCAN_SOON_MS, paths: RESCAN_BURST_PATHS, trouble: false })).toBe(true);
    expect(rescanDue({ sinceMs: RESCAN_SOON_MS - 1, paths: 100 * RESCAN_BURST_PATHS, trouble: true })).toBe(false);
  });
});
