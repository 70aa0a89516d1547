import { afterEach, describe, expect, it, vi } from "vitest";
import { LOOK_MS, RECYCLE_ANON_MIB, RECYCLE_GROWTH_MIB, RETRY_FAILED_MS, lookAt, recycleDue, startRecycler, type WorkerdLook } from "../../local-agent/workerd-recycle.js";

const look = (at: number, cpuMs: number, anonMiB: number): WorkerdLook => ({ at, cpuMs, anonMiB });

describe("when an idle workerd is restarted to give its memory back", () => {
  it("only when it was quiet between two looks and holds more than the mark", () => {
    const big = RECYCLE_ANON_MIB + 100;
    expect(recycleDue(look(0, 1000, big), look(60_000, 1100, big), 40), "0.17 % of a core: idle pings").toBe(true);
    expect(recycleDue(look(0, 1000, big), look(60_000, 5000, big), 40), "busy").toBe(false);
    expect(recycleDue(look(0, 1000, 40), look(60_000, 1000, RECYCLE_ANON_MIB - 1), 40), "small").toBe(false);
  });

  it("only once it grew well past the least it held, however big a fresh one is", () => {
    const fresh = RECYCLE_ANON_MIB + 20;
    expect(recycleDue(look(0, 0, fresh), look(5_000, 0, fresh + RECYCLE_GROWTH_MIB - 1), fresh)).toBe(false);
    expect(recycleDue(look(0, 0, fresh), look(5_000, 0, fresh + RECYCLE_GROWTH_MIB), fresh)).toBe(true);
  });

  it("reads this process's CPU and private memory from /proc", () => {
    const self = lookAt(process.pid);
    expect(self).not.toBeNull();
    expect(self!.anonMiB).toBeGreaterThan(1);
    expect(lookAt(2 ** 30)).toBeNull();
  });
});

describe("the recycler loop", () => {
  afterEach(() => vi.useRealTimers());

  /** A quiet workerd whose private memory the test sets; a restart brings the next pid, holding `fresh` MiB when given. */
  function fakeWorkerd(anonMiB: number, fresh?: number) {
    const w = { pid: 10, anon: anonMiB, restarts: [] as number[], lines: [] as string[] };
    const recycler = startRecycler({
      pid: () => w.pid,
      look: (p) => (p === w.pid ? { at: performance.now(), cpuMs: 0, anonMiB: w.anon } : null),
      restart: async () => {
        w.restarts.push(w.pid);
        w.pid++;
        if (fresh !== undefined) w.anon = fresh;
        return w.pid;
      },
      log: (l) => w.lines.push(l),
    });
    return { w, recycler };
  }

  it("restarts a quiet, bloated workerd, logs it, follows the new pid, restarts it again after the next burst, and waits for a restart under way on stop", async () => {
    vi.useFakeTimers();
    const { w, recycler } = fakeWorkerd(45, 37);
    await vi.advanceTimersByTimeAsync(LOOK_MS);
    w.anon = RECYCLE_ANON_MIB + 50;
    await vi.advanceTimersByTimeAsync(LOOK_MS);
    expect(w.restarts).toEqual([10]);
    expect(w.lines).toEqual([`restarted idle workerd (pid 10 → 11) to give back the ${RECYCLE_ANON_MIB + 50} MB its allocator kept after the last burst`]);
    await vi.advanceTimersByTimeAsync(5 * LOOK_MS);
    expect(w.restarts, "the fresh one is small").toEqual([10]);
    // The next burst, a minute later: no waiting for a gap since the last restart.
    w.anon = RECYCLE_ANON_MIB + 10;
    await vi.advanceTimersByTimeAsync(2 * LOOK_MS);
    expect(w.restarts).toEqual([10, 11]);
    await recycler.stop();
  });

  it("restarts the site's first workerd whatever it held at its first look, and leaves alone a restarted one that is fresh past the mark until it grows", async () => {
    vi.useFakeTimers();
    // Its first look falls in the middle of an initial sync.
    const { w, recycler } = fakeWorkerd(RECYCLE_ANON_MIB + 30);
    await vi.advanceTimersByTimeAsync(2 * LOOK_MS);
    expect(w.restarts).toEqual([10]);
    // The fresh one sits past the mark: no restart after restart.
    await vi.advanceTimersByTimeAsync(10 * LOOK_MS);
    expect(w.restarts).toEqual([10]);
    w.anon += RECYCLE_GROWTH_MIB;
    await vi.advanceTimersByTimeAsync(LOOK_MS);
    expect(w.restarts).toEqual([10, 11]);
    await recycler.stop();
  });

  it("says so when a restart fails, and keeps looking", async () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    let tries = 0;
    let looks = 0;
    const r = startRecycler({
      pid: () => 10,
      // Fresh at the first look, bloated from the second on.
      look: () => ({ at: performance.now(), cpuMs: 0, anonMiB: looks++ === 0 ? 45 : RECYCLE_ANON_MIB * 2 }),
      restart: async () => {
        tries++;
        throw new Error("port in use");
      },
      log: (l) => lines.push(l),
    });
    await vi.advanceTimersByTimeAsync(2 * LOOK_MS);
    expect(lines).toEqual(["could not restart workerd: port in use"]);
    await vi.advanceTimersByTimeAsync(RETRY_FAILED_MS - 2 * LOOK_MS);
    expect(tries, "not again before the retry gap").toBe(1);
    await vi.advanceTimersByTimeAsync(3 * LOOK_MS);
    expect(tries).toBe(2);
    await r.stop();
  });
});
