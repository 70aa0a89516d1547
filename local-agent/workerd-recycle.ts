/**
 * Restarts an idle workerd that holds far more memory than a fresh one. workerd's allocator
 * (tcmalloc) keeps the pages a burst of sync work freed for as long as the process lives, and
 * nothing outside it can ask for them back: after syncing 10,000 files and 116,000 rows, an idle
 * site's workerd held 150–300 MB of private memory against ~40 MB fresh (B7), the largest part
 * of the site. A restart (worker-host.ts sends the config workerd last started with again) takes
 * ~0.3 s, during which the port refuses connections, and costs ~0.3 s of CPU with the first
 * requests after it. So the worker host restarts workerd only when it has been quiet for a whole
 * look (an idle site's workerd works ~0.2 % of a core: pings and ticks), and at most once per
 * RECYCLE_GAP_MS. A request caught by the restart fails like a network blip: the agent and the
 * peers retry it (every delivery is idempotent), and what the worker keeps in memory is only
 * ever a cache.
 */
import { kbField, readStat } from "./procs.js";

/** How often the host looks at workerd (a read of two /proc files). */
export const LOOK_MS = 15_000;
/** Private memory past which an idle workerd is restarted (a fresh one holds ~40 MB). */
export const RECYCLE_ANON_MIB = 128;
/** Share of a core under which workerd counts as quiet between two looks. */
const QUIET_SHARE = 0.01;
/** At most one restart per this long, in case a fresh workerd already sits past the mark. */
export const RECYCLE_GAP_MS = 10 * 60_000;

export interface WorkerdLook {
  /** performance.now() of the look. */
  at: number;
  /** CPU workerd used so far (ms). */
  cpuMs: number;
  /** Its private memory (RssAnon, MiB). */
  anonMiB: number;
}

export function recycleDue(prev: WorkerdLook, now: WorkerdLook, lastRecycleAt: number | null): boolean {
  if (lastRecycleAt !== null && now.at - lastRecycleAt < RECYCLE_GAP_MS) return false;
  const quiet = now.cpuMs - prev.cpuMs <= QUIET_SHARE * (now.at - prev.at);
  return quiet && now.anonMiB >= RECYCLE_ANON_MIB;
}

/** A look at `pid` from /proc (Linux), or null when it is gone or /proc is not there. */
export function lookAt(pid: number): WorkerdLook | null {
  const stat = readStat(pid);
  const anonKiB = kbField(`/proc/${pid}/status`, "RssAnon");
  if (stat === null || anonKiB === null) return null;
  // utime and stime count USER_HZ ticks: 100 a second on Linux.
  return { at: performance.now(), cpuMs: (Number(stat.fields[11]) + Number(stat.fields[12])) * 10, anonMiB: anonKiB / 1024 };
}

export interface RecyclerOptions {
  /** workerd's pid now. */
  pid(): number | null;
  /** Restarts workerd; resolves with the new one's pid. */
  restart(): Promise<number | null>;
  log(line: string): void;
  /** How a look is taken (tests); lookAt by default. */
  look?: (pid: number) => WorkerdLook | null;
}

/** Looks every LOOK_MS; stop() ends it (and waits for a restart under way). */
export function startRecycler(opts: RecyclerOptions): { stop(): Promise<void> } {
  let prev: WorkerdLook | null = null;
  let lastRecycleAt: number | null = null;
  let restarting: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    const pid = opts.pid();
    const now = restarting === null && pid !== null ? (opts.look ?? lookAt)(pid) : null;
    const due = prev !== null && now !== null && recycleDue(prev, now, lastRecycleAt);
    prev = now;
    if (!due) return;
    lastRecycleAt = now.at;
    prev = null;
    restarting = opts
      .restart()
      .then((fresh) => opts.log(`restarted idle workerd (pid ${pid} → ${fresh ?? "?"}) to give back the ${Math.round(now.anonMiB)} MB its allocator kept after the last burst`))
      .catch((err: unknown) => opts.log(`could not restart workerd: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => {
        restarting = null;
      });
  }, LOOK_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await restarting;
    },
  };
}
