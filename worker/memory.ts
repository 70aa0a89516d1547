/**
 * An idle worker gives back the memory its last burst of work grew. workerd keeps a heap grown
 * by a burst for as long as the isolate then idles (it allocates nothing, so the next collection
 * never comes): in B7, 250–330 MB of an idle site's workerd was the garbage of the initial sync.
 * So once the work stops, the worker drops its blob cache (bytes that were only worth a moment)
 * and collects. `gc` exists when the site runs workerd with --expose-gc
 * (local-agent/worker-host.ts); on Cloudflare it does not.
 *
 * When the work stopped is told by a settle call a few seconds after a tick that saw work: no
 * work in between, the burst is over. A separate call, not a sooner tick, because a tick runs a
 * round with every peer (ten sites ticking every 2 s through a burst slowed B3's fan-out).
 */
import type { MiddlewareHandler } from "hono";
import { dropBlobs } from "./files/blob-cache.js";

/** How long after a tick that saw work the agent asks whether the work has stopped. */
export const SETTLE_MS = 3_000;

/** Work since the last look (a tick or a settle call). */
let workSinceLook = false;
/** Work since the last collection: a look that finds none since the previous look collects. */
let dirty = false;

/** Middleware for the routes that move data: each request marks the current spell as busy. */
export const noteWork: MiddlewareHandler = async (_c, next) => {
  workSinceLook = true;
  await next();
};

/** `settled`: this look collected (the agent then collects its own heap). `settleInMs`: look again then. */
export interface Settle {
  settled: boolean;
  settleInMs?: number;
}

/** A look at the spell, from a tick (`moved`: the tick itself moved something) or a settle call. */
export function settle(moved: boolean): Settle {
  if (moved || workSinceLook) {
    workSinceLook = false;
    dirty = true;
    return { settled: false, settleInMs: SETTLE_MS };
  }
  if (!dirty) return { settled: false };
  dirty = false;
  dropBlobs();
  const gc = (globalThis as { gc?: (options: object) => void }).gc;
  if (gc === undefined) return { settled: false };
  // "last-resort" also hands the freed pages back to the system; a regular collection keeps
  // them committed (a test worker: 247 MB → 225 MB regular, → 73 MB last-resort).
  gc({ type: "major", execution: "sync", flavor: "last-resort" });
  return { settled: true };
}
