/**
 * `scoutsync start`: one site from one command. Takes the data folder's lock, makes the admin
 * token, checks the ports, then starts db → worker → agent as supervised children, waits for
 * the worker's ping and prints one line. Ctrl-C stops the children in reverse order.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CHILD_CONFIG_ENV, DbReadySchema, type ChildConfig, type ChildKind, type ReadyLine } from "./child-protocol.js";
import { dialHost, urlAuthority, type StartConfig } from "./config.js";
import { siteUrl } from "./http.js";
import { isPortFree } from "./ports.js";
import { commandLine, isAlive } from "./procs.js";
import { acquireLock, DataInUseError, ensureAdminToken, readRuntime, removeRuntime, writeRuntime, type Lock, type RuntimeInfo } from "./runtime.js";
import { ChildStartError, Supervised } from "./supervise.js";
import { VERSION } from "./version.js";

const PING_TIMEOUT_MS = 60_000;

/**
 * Per-child V8 flags. The worker host mostly idles (workerd serves the requests), so a small
 * young generation costs it nothing and saves tens of MB; the agent moves files in bursts, where
 * a 1 MiB one made collecting 12–20 % of its CPU: 4 MiB (B5, alternating runs: 256 MiB file
 * 102–104 → 120 MB/s; B7 PSS max per site 257 and 292 MB, 265 and 305 with 1 MiB). The db
 * child moves bulk rows and keeps V8's default. `gc` lets the host drop Miniflare's start-up
 * garbage, and the agent and the db child give back a heap grown by a burst (collect.ts).
 */
const NODE_FLAGS: Record<ChildKind, string[]> = {
  db: ["--expose-gc"],
  worker: ["--expose-gc", "--max-semi-space-size=1"],
  agent: ["--expose-gc", "--max-semi-space-size=4"],
};

/**
 * The children's environment: ours, their config, and glibc malloc settings unless the user
 * chose their own. glibc gives each thread that allocates (the libuv pool, V8's helper threads)
 * an arena of its own, up to eight per core, and each keeps what a burst freed: at most two
 * arenas. And it raises its mmap threshold as it sees large blocks freed, after which file
 * blocks and request bodies (128 KiB to 1 MiB) come from the heap and their pages stay with the
 * process: a fixed threshold sends them to mmap, and unmaps them when they are freed. After
 * syncing 10,000 files and 116,000 rows an idle site's Node children held 10–15 MB less each with
 * two arenas (B7: 661/568 → 556/527 MB per site) and 10–45 MB less each with the fixed threshold
 * (530/553 → 431/495), and B5 moved no slower. The threshold is 64 KiB, the size of each socket
 * read: at 128 KiB those came from the heap, and the receiving agent of B7 held 156 MB for a
 * minute after its burst, against 105 → 67 MB within twenty seconds (B5 no slower: 104–108 against
 * 89–90 MB/s for 1 MiB files, 679–762 against 587–642 small files/s, alternating runs).
 */
export function childEnv(base: NodeJS.ProcessEnv, config: ChildConfig): NodeJS.ProcessEnv {
  const malloc = "MALLOC_ARENA_MAX" in base || "MALLOC_MMAP_THRESHOLD_" in base ? {} : { MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: String(64 * 1024) };
  return { ...malloc, ...base, [CHILD_CONFIG_ENV]: JSON.stringify(config) };
}

export interface LauncherIo {
  out(line: string): void;
  err(line: string): void;
}

const consoleIo: LauncherIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Runs the site until a signal or a fatal crash; resolves with the process exit code. */
export async function runStart(config: StartConfig, io: LauncherIo = consoleIo): Promise<number> {
  const say = (line: string) => io.err(`scoutsync: ${line}`);
  // `scoutsync start | head` or a closed terminal: losing our own output must not crash the
  // launcher and orphan the children's shutdown.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
  try {
    for (const dir of [config.data, config.instance, path.dirname(config.db)]) mkdirSync(dir, { recursive: true });
  } catch (err) {
    say(`cannot create the folders for this site: ${(err as Error).message}`);
    return 1;
  }
  let lock: Lock;
  try {
    lock = acquireLock(config.data);
  } catch (err) {
    say(err instanceof DataInUseError ? err.message : `cannot lock the data folder ${config.data}: ${(err as Error).message}`);
    return 1;
  }
  // process.exit() (a second Ctrl-C) skips the finally below; the lock must still go.
  const releaseOnExit = () => {
    removeRuntime(config.data);
    lock.release();
  };
  process.once("exit", releaseOnExit);
  try {
    cleanUpAfterCrash(config.data);
    ensureAdminToken(config.data);
    const busy = await busyPort(config);
    if (busy !== null) {
      say(busy);
      return 1;
    }
    return await new Site(config, io).run();
  } catch (err) {
    say((err as Error).message);
    return 1;
  } finally {
    process.off("exit", releaseOnExit);
    releaseOnExit();
  }
}

async function busyPort(c: StartConfig): Promise<string | null> {
  let free: boolean;
  try {
    free = await isPortFree(c.host, c.port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EAI_AGAIN") {
      return `--host ${c.host} is not an address of this machine; use 0.0.0.0 (every interface) or one of its own addresses`;
    }
    throw err;
  }
  if (!free) return `port ${c.port} is already in use on ${c.host}; pick another with --port N`;
  if (c.dbPort !== 0 && !(await isPortFree("127.0.0.1", c.dbPort))) {
    return `port ${c.dbPort} is already in use on 127.0.0.1; pick another with --db-port N (or leave it out to use a free one)`;
  }
  return null;
}

/**
 * A previous launcher that was killed outright left runtime.json behind. Its children exit on
 * their own when it dies, but one that hung (or its workerd) would hold the ports: finish them.
 */
function cleanUpAfterCrash(data: string): void {
  const stale = readRuntime(data);
  if (stale === null || stale.pid === process.pid || isAlive(stale.pid)) return;
  for (const pid of Object.values(stale.children)) {
    // The command check guards against a pid the OS has since given to someone else.
    const cmd = commandLine(pid);
    if (cmd === null || !(cmd.includes("scoutsync") || cmd.includes("workerd"))) continue;
    try {
      // A child leads its own process group: take whatever it started along with it.
      process.kill(cmd.includes("__child") && process.platform !== "win32" ? -pid : pid, "SIGKILL");
    } catch {
      // Gone in the meantime.
    }
  }
}

class Site {
  private readonly bundle = fileURLToPath(import.meta.url);
  private readonly children = new Map<ChildKind, Supervised>();
  private readonly startedAt = Date.now();
  private dbPort: number;
  private dbUrls: ChildConfig["dbUrls"];
  private running = false;
  private stopping = false;
  private stopRequested: ((code: number) => void) | null = null;
  private readonly stopped: Promise<number>;
  private signals = 0;

  constructor(
    private readonly config: StartConfig,
    private readonly io: LauncherIo,
  ) {
    this.dbPort = config.dbPort;
    this.stopped = new Promise((resolve) => {
      this.stopRequested = resolve;
    });
  }

  async run(): Promise<number> {
    const onSignal = (signal: NodeJS.Signals) => this.onSignal(signal);
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onSignal);
    try {
      // A failed start comes back as a value: it may settle after a stop request already won
      // the race, and must not become an unhandled rejection then.
      const startFailure = this.startAll().then(
        () => null,
        (err: unknown) => err,
      );
      const early = await Promise.race([startFailure, this.stopped.then(() => null)]);
      const code = early === null ? await this.stopped : this.reportStartFailure(early);
      await this.stopAll();
      if (this.running) this.say("stopped");
      return code;
    } finally {
      for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(s, onSignal);
    }
  }

  private reportStartFailure(err: unknown): number {
    this.say(err instanceof Error ? err.message : String(err));
    return 1;
  }

  private async startAll(): Promise<void> {
    const db = DbReadySchema.parse(await this.child("db").start());
    this.dbPort = db.port;
    this.dbUrls = db.urls;
    await this.child("worker").start();
    // The agent's start and the worker's first ping (which migrates the state db) overlap.
    await Promise.all([this.child("agent").start(), this.waitForPing()]);
    this.running = true;
    this.writeRuntime();
    const shown = `http://${urlAuthority(dialHost(this.config.host), this.config.port)}/`;
    this.io.out(`scoutsync: site "${this.config.name}" is up — dashboard ${shown} (data ${this.config.data}, instance ${this.config.instance})`);
  }

  private child(kind: ChildKind): Supervised {
    if (this.stopping) throw new ChildStartError(kind, "the site is stopping");
    const sup = new Supervised({
      kind,
      // Not process.execArgv: a launcher run with --inspect must not hand its port to children.
      args: [...NODE_FLAGS[kind], this.bundle, "__child", kind],
      env: () => childEnv(process.env, this.childConfig()),
      out: (line) => this.io.out(`[${kind}] ${line}`),
      err: (line) => this.io.err(`[${kind}] ${line}`),
      onReady: (ready, again) => this.onChildReady(kind, ready, again),
      onRestart: (message) => this.say(message),
      onGiveUp: (message) => {
        this.say(`${message}; stopping the site`);
        this.stopRequested?.(1);
      },
    });
    this.children.set(kind, sup);
    return sup;
  }

  private childConfig(): ChildConfig {
    return {
      site: this.config,
      dbPort: this.dbPort,
      dbUrls: this.dbUrls,
      scriptPath: path.join(path.dirname(this.bundle), "worker.js"),
      version: VERSION,
    };
  }

  private onChildReady(kind: ChildKind, ready: ReadyLine, again: boolean): void {
    if (!this.running) return;
    if (!again) this.say(`the ${kind} child is back (pid ${ready.pid})`);
    this.writeRuntime();
  }

  private writeRuntime(): void {
    const children: Record<string, number> = {};
    for (const [kind, sup] of this.children) {
      if (sup.pid !== null) children[kind] = sup.pid;
      const workerd = sup.lastReady?.["workerdPid"];
      if (typeof workerd === "number") children["workerd"] = workerd;
    }
    const info: RuntimeInfo = {
      pid: process.pid,
      port: this.config.port,
      host: this.config.host,
      dbPort: this.dbPort,
      startedAt: this.startedAt,
      name: this.config.name,
      version: VERSION,
      data: this.config.data,
      instance: this.config.instance,
      db: this.config.db,
      children,
    };
    writeRuntime(this.config.data, info);
  }

  /** Poll ping until 200; the worker's first request also migrates its state database. */
  private async waitForPing(): Promise<void> {
    const url = siteUrl(this.config, "/api/sync/ping");
    const deadline = Date.now() + PING_TIMEOUT_MS;
    let last = "no answer yet";
    while (Date.now() < deadline && !this.stopping) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
        const text = await res.text();
        if (res.status === 200) return;
        last = `HTTP ${res.status} ${text.slice(0, 200)}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new ChildStartError("worker", `the worker did not answer ${url} within ${PING_TIMEOUT_MS / 1000} s (last: ${last})`);
  }

  private onSignal(signal: NodeJS.Signals): void {
    this.signals++;
    if (this.signals === 1) {
      this.say(`${signal}: stopping the site`);
      this.stopRequested?.(0);
      return;
    }
    // A second Ctrl-C means "now": kill every child's group and leave.
    this.say(`${signal} again: killing the children`);
    for (const sup of this.children.values()) {
      const pid = sup.pid;
      if (pid === null) continue;
      try {
        process.kill(process.platform === "win32" ? pid : -pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    process.exit(130);
  }

  /** Reverse start order: the agent stops calling the worker before the worker loses its db. */
  private async stopAll(): Promise<void> {
    this.stopping = true;
    for (const kind of ["agent", "worker", "db"] as const) await this.children.get(kind)?.stop();
  }

  private say(line: string): void {
    this.io.err(`scoutsync: ${line}`);
  }
}
