/**
 * Runs the bundled worker (dist/worker.js) in workerd through Miniflare's API: no wrangler
 * process, no file watching, no inspector. The worker reaches libSQL over loopback HTTP with the
 * URLs the db child reported.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import type { Readable } from "node:stream";
import type { ChildConfig } from "./child-protocol.js";
import { processHeap } from "./collect.js";
import { childrenOf } from "./procs.js";
import { withV8Flags } from "./workerd-config.js";

/** `gc` for the worker, which collects once a burst of work is over (worker/memory.ts). */
const WORKERD_V8_FLAGS = ["--expose-gc"];

export interface WorkerHost {
  url: string;
  /** workerd's pid, reported so the launcher can check nothing is left behind. */
  workerdPid: number | null;
  close(): Promise<void>;
}

/** The worker's bindings, all strings (vars), exactly the names worker/env.ts parses. */
export function workerBindings(config: ChildConfig, token: string): Record<string, string> {
  if (!config.dbUrls) throw new Error("the worker needs the libSQL server's URLs, and the db child has not reported them");
  return {
    LIBSQL_URL: config.dbUrls.app,
    LIBSQL_STATE_URL: config.dbUrls.state,
    ADMIN_TOKEN: token,
    SITE_NAME: config.site.name,
    SITE_PORT: String(config.site.port),
    DB_PORT: String(config.dbPort),
    SCOUTSYNC_VERSION: config.version,
  };
}

export async function startWorkerHost(config: ChildConfig, token: string): Promise<WorkerHost> {
  if (!existsSync(config.scriptPath)) {
    throw new Error(`the worker bundle ${config.scriptPath} is missing; run npm run build`);
  }
  // Loaded here, not at the top: the CLI's other commands must not pay for Miniflare.
  const { Miniflare, Runtime } = await import("miniflare");
  passV8Flags(Runtime);
  const hasAssets = existsSync(config.staticDir);
  const mf = new Miniflare({
    modules: true,
    scriptPath: config.scriptPath,
    // Module names are paths relative to this root; the default (the cwd) breaks as soon as
    // scoutsync is started from another folder ("can't use .. to break out").
    modulesRoot: path.dirname(config.scriptPath),
    compatibilityDate: "2025-09-01",
    compatibilityFlags: ["nodejs_compat"],
    host: config.site.host,
    port: config.site.port,
    bindings: workerBindings(config, token),
    // Static files are served by workerd itself; the worker still sees every path the
    // directory lacks (has_user_worker), and can read assets through env.ASSETS.
    ...(hasAssets ? { assets: { directory: config.staticDir, binding: "ASSETS", routerConfig: { has_user_worker: true } } } : {}),
    // No inspectorPort: workerd then opens no inspector, so two sites never fight over 9229.
    // Miniflare's default outbound network allows public and private (incl. loopback)
    // addresses, which peers on the LAN and on this machine need; nothing to configure.
    handleRuntimeStdio: forwardRuntimeOutput,
    // Sites are often offline: never fetch Request.cf from workers.cloudflare.com (a 3 s
    // timeout on every start without internet); the worker does not use request.cf.
    cf: false,
  });
  const url = await mf.ready;
  releaseStartupGarbage();
  const workerd = childrenOf(process.pid).find((c) => c.command.includes("workerd"));
  return {
    url: url.href,
    workerdPid: workerd?.pid ?? null,
    close: () => mf.dispose(),
  };
}

/**
 * Miniflare has no option for workerd's V8 flags: add them to each config it sends (once per
 * process). A config we do not understand (a future Miniflare) is sent as it is: the site runs,
 * only without giving memory back.
 */
function passV8Flags(runtime: typeof import("miniflare").Runtime): void {
  const proto = runtime.prototype as typeof runtime.prototype & { scoutsyncFlags?: true };
  if (proto.scoutsyncFlags) return;
  const update = proto.updateConfig;
  proto.updateConfig = function (this: InstanceType<typeof runtime>, config, ...rest) {
    let flagged = config;
    try {
      flagged = Buffer.from(withV8Flags(config, WORKERD_V8_FLAGS));
    } catch (err) {
      console.error(`scoutsync: workerd runs without ${WORKERD_V8_FLAGS.join(" ")}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return update.call(this, flagged, ...rest);
  };
  proto.scoutsyncFlags = true;
}

/**
 * Miniflare leaves ~100 MB of start-up garbage (config buffers, the parsed bundle) that V8 would
 * keep for a long time in a process that then sits idle for hours: collect it now.
 */
function releaseStartupGarbage(): void {
  processHeap.collect();
  // Some buffers are only released after the first requests settle.
  setTimeout(() => processHeap.collect(), 2_000).unref();
}

/** workerd's own output (the worker's console.log included), as plain lines without colour. */
function forwardRuntimeOutput(stdout: Readable, stderr: Readable): void {
  readline.createInterface(stdout).on("line", (line) => console.log(line));
  readline.createInterface(stderr).on("line", (line) => console.error(line));
}
