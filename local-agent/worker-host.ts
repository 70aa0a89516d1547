/**
 * Runs the bundled worker (dist/worker.js) in workerd through Miniflare's API: no wrangler
 * process, no file watching, no inspector. The worker reaches libSQL over loopback HTTP with the
 * URLs the db child reported.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import type { Readable } from "node:stream";
import type { ChildConfig } from "./child-protocol.js";
import { processHeap } from "./collect.js";
import { childrenOf } from "./procs.js";
import { withV8Flags } from "./workerd-config.js";
import { startRecycler } from "./workerd-recycle.js";

/** `gc` for the worker, which collects once a burst of work is over (worker/memory.ts). */
const WORKERD_V8_FLAGS = ["--expose-gc"];

export interface WorkerHost {
  url: string;
  /** workerd's pid, reported so the launcher can check nothing is left behind. */
  workerdPid: number | null;
  /** Starts workerd again with the config it runs (workerd-recycle.ts); resolves with the new pid. */
  restartWorkerd(): Promise<number | null>;
  close(): Promise<void>;
}

/** The worker's bindings, all strings (vars), exactly the names worker/env.ts parses. */
export function workerBindings(config: ChildConfig, token: string, startedAt: number): Record<string, string> {
  if (!config.dbUrls) throw new Error("the worker needs the libSQL server's URLs, and the db child has not reported them");
  return {
    LIBSQL_URL: config.dbUrls.app,
    LIBSQL_STATE_URL: config.dbUrls.state,
    ADMIN_TOKEN: token,
    SITE_NAME: config.site.name,
    SITE_PORT: String(config.site.port),
    DB_PORT: String(config.dbPort),
    SCOUTSYNC_VERSION: config.version,
    SITE_STARTED_AT: String(startedAt),
  };
}

/** `onWorkerd`: told the new pid when an idle, bloated workerd was restarted (workerd-recycle.ts). */
export async function startWorkerHost(config: ChildConfig, token: string, onWorkerd: (pid: number | null) => void): Promise<WorkerHost> {
  if (!existsSync(config.scriptPath)) {
    throw new Error(`the worker bundle ${config.scriptPath} is missing; run npm run build`);
  }
  // Loaded here, not at the top: the CLI's other commands must not pay for Miniflare.
  const { Miniflare, Runtime } = await import("miniflare");
  passV8Flags(Runtime);
  const options = {
    // The bundle is one module that imports nothing. Named as such, not as a scriptPath with
    // `modules: true`: Miniflare would parse 1.3 MB of JavaScript to find its imports, ~0.35 s
    // of CPU at every start.
    modules: [{ type: "ESModule" as const, path: config.scriptPath, contents: readFileSync(config.scriptPath, "utf8") }],
    // Module names are paths relative to this root; the default (the cwd) breaks as soon as
    // scoutsync is started from another folder ("can't use .. to break out").
    modulesRoot: path.dirname(config.scriptPath),
    compatibilityDate: "2025-09-01",
    compatibilityFlags: ["nodejs_compat"],
    host: config.site.host,
    port: config.site.port,
    bindings: workerBindings(config, token, Date.now()),
    // No static assets: the worker serves the dashboard's files itself (worker/routes/pages.ts).
    // Every outbound fetch (each libSQL request, each block from the agent) would pass through a
    // worker that strips CF-Connecting-IP (+0.1 ms of workerd CPU each); the worker never
    // forwards incoming headers, so there is nothing to strip.
    stripCfConnectingIp: false,
    // No inspectorPort: workerd then opens no inspector, so two sites never fight over 9229.
    // Miniflare's default outbound network allows public and private (incl. loopback)
    // addresses, which peers on the LAN and on this machine need; nothing to configure.
    handleRuntimeStdio: forwardRuntimeOutput,
    // Sites are often offline: never fetch Request.cf from workers.cloudflare.com (a 3 s
    // timeout on every start without internet); the worker does not use request.cf.
    cf: false,
    // Miniflare's entry worker would wrap every response to time it for a request log that goes
    // nowhere (no logger is set): a block passing through was re-streamed for nothing.
    logRequests: false,
  };
  const mf = new Miniflare(options);
  const url = await mf.ready;
  releaseStartupGarbage();
  let workerdPid = findWorkerd();
  const restartWorkerd = async (): Promise<number | null> => {
    // The config workerd last started with, sent again: setOptions would assemble it anew, and
    // left the host ~30 MB of buffers it never gave back. setOptions when that is not possible.
    const again = lastStart === null ? undefined : await lastStart().catch(() => undefined);
    if (again === undefined) {
      await mf.setOptions(options);
      releaseStartupGarbage();
    }
    workerdPid = findWorkerd();
    onWorkerd(workerdPid);
    return workerdPid;
  };
  const recycler = startRecycler({
    pid: () => workerdPid,
    restart: () =>
      restartWorkerd().catch((err: unknown) => {
        // workerd is stopped and did not start again: leave, and the launcher starts the worker child anew.
        console.error(`workerd did not start again after a restart (${err instanceof Error ? err.message : String(err)}); exiting so that the launcher restarts the worker`);
        process.exit(1);
      }),
    log: (line) => console.log(line),
  });
  return {
    url: url.href,
    workerdPid,
    restartWorkerd,
    close: async () => {
      await recycler.stop();
      await mf.dispose();
    },
  };
}

function findWorkerd(): number | null {
  return childrenOf(process.pid).find((c) => c.command.includes("workerd"))?.pid ?? null;
}

/**
 * Starts workerd again exactly as it was last started (Miniflare's runtime stops the running one
 * first); resolves with undefined when it failed to. Null before the first start.
 */
let lastStart: (() => Promise<unknown>) | null = null;

/**
 * Miniflare has no option for workerd's V8 flags: add them to each config it sends (once per
 * process). A config we do not understand (a future Miniflare) is sent as it is: the site runs,
 * only without giving memory back. Each start is remembered as lastStart.
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
    lastStart = () => update.call(this, flagged, ...rest);
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
