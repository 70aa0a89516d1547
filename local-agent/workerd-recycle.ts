/**
 * Restarts an idle workerd that holds far more memory than a fresh one. workerd's allocator
 * (tcmalloc) keeps the pages a burst of sync work freed for as long as the process lives, and
 * nothing outside it can ask for them back: after syncing 10,000 files and 116,000 rows, an idle
 * site's workerd held 150–300 MB of private memory against ~40 MB fresh (B7), the largest part
 * of the site. A restart (worker-host.ts sends the config workerd last started with again) takes
 * ~0.3 s, during which the port refuses connections, and costs ~0.3 s of CPU with the first
 * requests after it. So the worker host restarts workerd only when it has been quiet for a whole
 * look (an idle site's workerd works ~0.2 % of a core: pings and ticks). One it started itself
 * is restarted again only once it grew well past the least it held since: a fresh workerd that
 * already sits past the mark is not restarted again and again, and every burst that bloats it is
 * followed by a restart (a fixed gap of ten minutes between restarts left the second of two
 * bursts' memory in place, B7 after B8). The least of the site's first workerd is not taken: its
 * first look may come in the middle of an initial sync. A request caught by the restart fails
 * like a network blip: the agent and the peers retry it (every delivery is idempotent), and what
 * the worker keeps in memory is only ever a cache.
 */
import { cpuTicks, kbField } from "./procs.js";

/** How often the host looks at workerd (a read of two /proc files). */
export const LOOK_MS = 15_000;
/** Private memory past which an idle workerd is restarted (a fresh one holds ~40 MB)... */
export const RECYCLE_ANON_MIB = 128;
/** ...once it holds this much more than the least it held since it started. */
export const RECYCLE_GROWTH_MIB = 64;
/** Share of a core under which workerd counts as quiet between two looks. */
const QUIET_SHARE = 0.01;
/** After a restart that failed, the next try waits this long. */
export const RETRY_FAILED_MS = 10 * 60_000;

export interface WorkerdLook {
  /** performance.now() of the look. */
  at: number;
  /** CPU workerd used so far (ms). */
  cpuMs: number;
  /** Its private memory (RssAnon, MiB). */
  anonMiB: number;
}

/** `leastMiB`: the least private memory this workerd held at any look since it started (0: not known). */
export function recycleDue(prev: WorkerdLook, now: WorkerdLook, leastMiB: number): boolean {
  const quiet = now.cpuMs - prev.cpuMs <= QUIET_SHARE * (now.at - prev.at);
  return quiet && now.anonMiB >= Math.max(RECYCLE_ANON_MIB, leastMiB + RECYCLE_GROWTH_MIB);
}

/** A look at `pid` from /proc (Linux), or null when it is gone or /proc is not there. */
export function lookAt(pid: number): WorkerdLook | null {
  const ticks = cpuTicks(pid);
  const anonKiB = kbField(`/proc/${pid}/status`, "RssAnon");
  if (ticks === null || anonKiB === null) return null;
  return { at: performance.now(), cpuMs: ticks * 10, anonMiB: anonKiB / 1024 };
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
  // The first workerd's least is not known (0); a restarted one's is its fresh size, give or take.
  let least: { pid: number | null; anonMiB: number } = { pid: null, anonMiB: 0 };
  let failedAt: number | null = null;
  let restarting: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    const pid = opts.pid();
    const now = restarting === null && pid !== null ? (opts.look ?? lookAt)(pid) : null;
    if (now === null || pid === null) {
      prev = null;
      return;
    }
    if (least.pid !== pid) least = { pid, anonMiB: least.pid === null ? 0 : Infinity };
    least.anonMiB = Math.min(least.anonMiB, now.anonMiB);
    const due = prev !== null && recycleDue(prev, now, least.anonMiB) && (failedAt === null || now.at - failedAt >= RETRY_FAILED_MS);
    prev = now;
    if (!due) return;
    prev = null;
    restarting = opts
      .restart()
      .then((fresh) => opts.log(`restarted idle workerd (pid ${pid} → ${fresh ?? "?"}) to give back the ${Math.round(now.anonMiB)} MB its allocator kept after the last burst`))
      .catch((err: unknown) => {
        failedAt = now.at;
        opts.log(`could not restart workerd: ${err instanceof Error ? err.message : String(err)}`);
      })
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
