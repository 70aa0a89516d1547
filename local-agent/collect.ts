/**
 * Full collections that hand freed pages back to the system, for a child that is about to idle
 * for a long time after a burst. A regular collection frees the objects but V8 keeps their pages
 * committed. `gc` exists only where the launcher passed --expose-gc (launcher.ts); elsewhere
 * these collect nothing.
 *
 * Besides the worker's word that a burst is over (agent.ts), a child collects at a quiet moment
 * once it has worked WORK_MS of CPU, or grown its heap and buffers by GROWN_BYTES, since its last
 * collection: the garbage of work the worker does not see (a peer fetching blocks from the agent,
 * a rescan, the database server's request bodies) was kept for good, 100–200 MB of an idle agent
 * after 10,000 files (B7). A collection costs tens of milliseconds, so one per second of work at
 * most is cheap. Serving blocks costs little CPU for the garbage it leaves, hence the growth.
 *
 * Every collection, and every quiet moment that does not collect, also trims malloc's arenas
 * (malloc-trim.ts): native memory (SQLite's page caches, socket and hashing buffers) is freed
 * without V8 seeing it, often after the collection that followed the burst. A trim with nothing
 * to give back costs about a microsecond, one that unmaps 30 MB about 2 ms.
 */
import { getHeapStatistics } from "node:v8";
import { mallocTrim } from "./malloc-trim.js";

/** CPU a process works between two collections of its own (ms). */
const WORK_MS = 1_000;
/** Growth of the heap and buffers between two collections of its own (bytes). */
const GROWN_BYTES = 32 * 1024 * 1024;
/** A process that used less than this share of a core since the last look is quiet. */
const QUIET_SHARE = 0.05;

export interface HeapKeeper {
  /** Collects and trims now. */
  collect(): void;
  /** Collects if the process worked WORK_MS or grew GROWN_BYTES since the last collection, else only trims (the caller knows it is quiet: the database server's quiet moment). */
  collectAfterWork(): boolean;
  /** The same, only when the process was quiet since the previous call (the agent's ticks). */
  collectWhenQuiet(): boolean;
}

export interface HeapKeeperClock {
  /** CPU this process used so far, ms. */
  cpuMs(): number;
  nowMs(): number;
  /** Bytes of V8 heap and buffers. */
  footprint(): number;
}

export interface HeapKeeperRuntime {
  /** A full collection; undefined where gc is not exposed. */
  gc: (() => void) | undefined;
  /** Hands malloc's free pages back (malloc-trim.ts). */
  trim: () => void;
}

export function heapKeeper(clock: HeapKeeperClock, runtime: HeapKeeperRuntime, limits = { workMs: WORK_MS, grownBytes: GROWN_BYTES }): HeapKeeper {
  const { gc, trim } = runtime;
  let mark = { cpu: clock.cpuMs(), bytes: clock.footprint() };
  let look = { cpu: mark.cpu, at: clock.nowMs() };
  const collect = (): void => {
    if (gc !== undefined) {
      gc();
      // The collection's own CPU is not work.
      mark = { cpu: clock.cpuMs(), bytes: clock.footprint() };
      look = { cpu: mark.cpu, at: clock.nowMs() };
    }
    trim();
  };
  const afterWork = (): boolean => {
    if (gc === undefined || (clock.cpuMs() - mark.cpu < limits.workMs && clock.footprint() - mark.bytes < limits.grownBytes)) {
      trim();
      return false;
    }
    collect();
    return true;
  };
  return {
    collect,
    collectAfterWork: afterWork,
    collectWhenQuiet() {
      const now = { cpu: clock.cpuMs(), at: clock.nowMs() };
      const quiet = now.cpu - look.cpu <= QUIET_SHARE * (now.at - look.at);
      look = now;
      return quiet && afterWork();
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
  { gc: exposed && (() => exposed({ type: "major", execution: "sync", flavor: "last-resort" })), trim: () => void mallocTrim() },
);
