import { afterEach, describe, expect, it, vi } from "vitest";
import { LOOK_MS, RECYCLE_ANON_MIB, RECYCLE_GAP_MS, lookAt, recycleDue, startRecycler, type WorkerdLook } from "../../local-agent/workerd-recycle.js";

const look = (at: number, cpuMs: number, anonMiB: number): WorkerdLook => ({ at, cpuMs, anonMiB });

describe("when an idle workerd is restarted to give its memory back", () => {
  it("only when it was quiet between two looks and holds more than the mark", () => {
    const big = RECYCLE_ANON_MIB + 100;
    expect(recycleDue(look(0, 1000, big), look(60_000, 1100, big), null), "0.17 % of a core: idle pings").toBe(true);
    expect(recycleDue(look(0, 1000, big), look(60_000, 5000, big), null), "busy").toBe(false);
    expect(recycleDue(look(0, 1000, 40), look(60_000, 1000, RECYCLE_ANON_MIB - 1), null), "small").toBe(false);
  });

  it("at most once per gap, however big a fresh one is", () => {
    const big = RECYCLE_ANON_MIB + 100;
    expect(recycleDue(look(100_000, 0, big), look(160_000, 0, big), 100_000)).toBe(false);
    expect(recycleDue(look(100_000 + RECYCLE_GAP_MS, 0, big), look(160_000 + RECYCLE_GAP_MS, 0, big), 100_000)).toBe(true);
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

  it("restarts a quiet, bloated workerd once, logs it, follows the new pid, and waits for a restart under way on stop", async () => {
    vi.useFakeTimers();
    let pid = 10;
    let anon = RECYCLE_ANON_MIB + 50;
    const restarts: number[] = [];
    const lines: string[] = [];
    const r = startRecycler({
      pid: () => pid,
      look: (p) => (p === pid ? { at: performance.now(), cpuMs: 500, anonMiB: anon } : null),
      restart: async () => {
        restarts.push(pid);
        pid = 11;
        anon = 37;
        return pid;
      },
      log: (l) => lines.push(l),
    });
    await vi.advanceTimersByTimeAsync(LOOK_MS);
    expect(restarts, "one look is no comparison").toEqual([]);
    await vi.advanceTimersByTimeAsync(LOOK_MS);
    expect(restarts).toEqual([10]);
    expect(lines).toEqual([`restarted idle workerd (pid 10 → 11) to give back the ${RECYCLE_ANON_MIB + 50} MB its allocator kept after the last burst`]);
    await vi.advanceTimersByTimeAsync(5 * LOOK_MS);
    expect(restarts, "the fresh one is small").toEqual([10]);
    await r.stop();
  });

  it("says so when a restart fails, and keeps looking", async () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    let tries = 0;
    const r = startRecycler({
      pid: () => 10,
      look: () => ({ at: performance.now(), cpuMs: 0, anonMiB: RECYCLE_ANON_MIB * 2 }),
      restart: async () => {
        tries++;
        throw new Error("port in use");
      },
      log: (l) => lines.push(l),
    });
    await vi.advanceTimersByTimeAsync(2 * LOOK_MS);
    expect(lines).toEqual(["could not restart workerd: port in use"]);
    await vi.advanceTimersByTimeAsync(RECYCLE_GAP_MS + 2 * LOOK_MS);
    expect(tries).toBe(2);
    await r.stop();
  });
});
