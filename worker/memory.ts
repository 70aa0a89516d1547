/**
 * An idle worker gives back the memory its last burst of work grew. workerd keeps a heap grown
 * by a burst for as long as the isolate then idles (it allocates nothing, so the next collection
 * never comes): in B7, 250–330 MB of an idle site's workerd was the garbage of the initial sync.
 * So when a whole tick interval has passed without sync work after some, the worker drops its
 * blob cache (bytes that were only worth a moment) and collects. `gc` exists when the site runs
 * workerd with --expose-gc (local-agent/worker-host.ts); on Cloudflare it does not.
 */
import type { MiddlewareHandler } from "hono";
import { dropBlobs } from "./files/blob-cache.js";

let workSinceTick = false;
let dirty = false;

/** Middleware for the routes that move data: each request marks the current spell as busy. */
export const noteWork: MiddlewareHandler = async (_c, next) => {
  workSinceTick = true;
  dirty = true;
  await next();
};

/**
 * Called once per tick with whether the tick itself moved anything. `settled`: this tick found
 * the spell over and collected (the agent then collects its own heap too). `pending`: a
 * collection is due at the next quiet tick, so that tick should come soon (a busy tick's delay,
 * not an idle one's): the memory is given back seconds after a burst, not a minute later.
 */
export function settleAtTick(moved: boolean): { settled: boolean; pending: boolean } {
  if (moved || workSinceTick) {
    workSinceTick = false;
    dirty = true;
    return { settled: false, pending: true };
  }
  if (!dirty) return { settled: false, pending: false };
  dirty = false;
  dropBlobs();
  const gc = (globalThis as { gc?: (options: object) => void }).gc;
  if (gc === undefined) return { settled: false, pending: false };
  // "last-resort" also hands the freed pages back to the system; a regular collection keeps
  // them committed (a test worker: 247 MB → 225 MB regular, → 73 MB last-resort).
  gc({ type: "major", execution: "sync", flavor: "last-resort" });
  return { settled: true, pending: false };
}
