/**
 * Full collections that hand freed pages back to the system, for a child that is about to idle
 * for a long time after a burst. A regular collection frees the objects but V8 keeps their pages
 * committed. `gc` exists only where the launcher passed --expose-gc (launcher.ts); elsewhere
 * these do nothing.
 *
 * Besides the worker's word that a burst is over (agent.ts), the agent and the database server
 * collect at a quiet moment after a busy one, or once they have worked WORK_MS of CPU or grown
 * their heap and buffers by GROWN_BYTES since their last collection: the garbage of work the
 * worker does not see (a peer fetching blocks from the agent, a rescan, the database server's
 * request bodies) was kept for good, 100–200 MB of an idle agent after 10,000 files (B7). A
 * collection costs tens of milliseconds, so one per quarter second of work at most is cheap
 * (an idle agent works that much in three to four minutes). Serving blocks costs little CPU for
 * the garbage it leaves, hence the growth; and a collection taken while a burst still held much
 * leaves a high mark for the growth, hence the CPU.
 */
import { getHeapStatistics } from "node:v8";
import { realTimers, type Timers } from "./timers.js";

/** CPU a process works between two collections of its own (ms). */
const WORK_MS = 250;
/** Growth of the heap and buffers between two collections of its own (bytes). */
const GROWN_BYTES = 32 * 1024 * 1024;
/** A process that used less than this share of a core since the last look is quiet. */
const QUIET_SHARE = 0.05;

export interface HeapKeeper {
  /** Collects now. */
  collect(): void;
  /**
   * Collects if the process was quiet since the previous call (collectWhenQuietEvery) and either
   * a call since the last collection found it busy (a burst ended) or it worked WORK_MS or grew
   * GROWN_BYTES since then.
   */
  collectWhenQuiet(): boolean;
}

export interface HeapKeeperClock {
  /** CPU this process used so far, ms. */
  cpuMs(): number;
  nowMs(): number;
  /** Bytes of V8 heap and buffers. */
  footprint(): number;
}

export function heapKeeper(clock: HeapKeeperClock, gc: (() => void) | undefined, limits = { workMs: WORK_MS, grownBytes: GROWN_BYTES }): HeapKeeper {
  let mark = { cpu: clock.cpuMs(), bytes: clock.footprint() };
  let look = { cpu: mark.cpu, at: clock.nowMs() };
  // A look since the last collection found the process busy: the first quiet look after it
  // collects, whatever the thresholds say (a collection in a pause of the burst left its tail).
  let busySince = false;
  const collect = (): void => {
    if (gc === undefined) return;
    gc();
    // The collection's own CPU is not work.
    mark = { cpu: clock.cpuMs(), bytes: clock.footprint() };
    look = { cpu: mark.cpu, at: clock.nowMs() };
    busySince = false;
  };
  const afterWork = (): boolean => {
    if (gc === undefined || (clock.cpuMs() - mark.cpu < limits.workMs && clock.footprint() - mark.bytes < limits.grownBytes)) return false;
    collect();
    return true;
  };
  return {
    collect,
    collectWhenQuiet() {
      const now = { cpu: clock.cpuMs(), at: clock.nowMs() };
      const quiet = now.cpu - look.cpu <= QUIET_SHARE * (now.at - look.at);
      look = now;
      if (!quiet) {
        busySince = true;
        return false;
      }
      if (!busySince) return afterWork();
      if (gc === undefined) return false;
      collect();
      return true;
    },
  };
}

/**
 * How often a child looks whether it was quiet since its last look (a read of its CPU time).
 * Looked for at the agent's ticks (10 s apart when idle) and at the database server's quiet
 * moments (a second after a request, which an idle site makes every tick), the collection after
 * a burst came 20–50 s after it, past the work the looks never saw (blocks served to a peer, the
 * checkpoint thread's copying), and cost B7's idle window ~0.2 s of CPU when it landed there.
 */
export const QUIET_LOOK_MS = 2_500;

/** Collects after work once the process is quiet, looking every QUIET_LOOK_MS until stopped. */
export function collectWhenQuietEvery(heap: HeapKeeper, timers: Timers = realTimers): { stop(): void } {
  let handle: unknown = null;
  let stopped = false;
  const look = (): void => {
    handle = timers.set(() => {
      heap.collectWhenQuiet();
      if (!stopped) look();
    }, QUIET_LOOK_MS);
  };
  look();
  return {
    stop() {
      stopped = true;
      timers.clear(handle);
    },
  };
}

const exposed = (globalThis as { gc?: (options: object) => void }).gc;

export const processHeap: HeapKeeper = heapKeeper(
  {
    cpuMs: () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    },
    nowMs: () => performance.now(),
    // From V8 alone: process.memoryUsage() also reads /proc for the RSS, at every look.
    footprint: () => {
      const h = getHeapStatistics();
      return h.total_heap_size + h.external_memory;
    },
  },
  exposed && (() => exposed({ type: "major", execution: "sync", flavor: "last-resort" })),
);
