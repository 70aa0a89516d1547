/**
 * Real scoutsync sites for the benchmarks and the demo: `node dist/scoutsync.js start` on free
 * loopback ports, linked through the admin API, measured from the outside. Every pid a site
 * reports is remembered so that stopping kills only what we started: SIGINT to the launcher,
 * then SIGKILL (launcher, each child's process group, workerd) if it is not gone in 10 s.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, isPortFree } from "../local-agent/ports.js";
import { retryRefused, retryStale } from "../local-agent/http.js";
import { commandLine } from "../local-agent/procs.js";
import { sleep, waitFor } from "./wait.js";

/** The repository root: bench/ (sources, tests) and dist/ (bundles) both sit directly under it. */
export const REPO_ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const BUNDLE = path.join(REPO_ROOT, "dist", "scoutsync.js");

const UP_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 10_000;
const LOG_KEEP = 64 * 1024;

export interface Runtime {
  pid: number;
  port: number;
  dbPort: number;
  children: Record<string, number>;
}

export interface SiteOptions {
  name: string;
  /** The site's folder: data/ and instance/ go in it. */
  dir: string;
  /** A fixed port (must be free); a free one otherwise. */
  port?: number;
  /** Print the site's own log lines (the demo does). */
  echo?: (line: string) => void;
}

export class RunningSite {
  readonly data: string;
  readonly instance: string;
  readonly db: string;
  proc: ChildProcess | null = null;
  private out = "";
  private err = "";
  private exited: Promise<void> = Promise.resolve();
  private alive = false;
  private pids = new Set<number>();

  constructor(
    readonly name: string,
    readonly dir: string,
    readonly port: number,
    private readonly echo?: (line: string) => void,
  ) {
    this.data = path.join(dir, "data");
    this.instance = path.join(dir, "instance");
    this.db = path.join(this.data, "app.db");
    mkdirSync(this.data, { recursive: true });
    mkdirSync(this.instance, { recursive: true });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Spawns the launcher and resolves once it printed its "is up" line (with the time that took). */
  async start(): Promise<number> {
    const t0 = performance.now();
    this.out = "";
    this.err = "";
    const args = [BUNDLE, "start", "--data", this.data, "--instance", this.instance, "--port", String(this.port), "--host", "127.0.0.1", "--name", this.name];
    // Its own process group: a Ctrl-C at the terminal reaches only us, and we stop each site
    // with exactly one SIGINT (a second one tells the launcher to kill its children outright).
    const proc = spawn(process.execPath, args, { cwd: this.dir, stdio: ["ignore", "pipe", "pipe"], detached: true });
    this.proc = proc;
    this.alive = true;
    if (proc.pid !== undefined) this.pids.add(proc.pid);
    const keep = (which: "out" | "err") => (chunk: string) => {
      this[which] = (this[which] + chunk).slice(-LOG_KEEP);
      if (this.echo) for (const line of chunk.split("\n")) if (line.trim() !== "") this.echo(line);
    };
    proc.stdout!.setEncoding("utf8").on("data", keep("out"));
    proc.stderr!.setEncoding("utf8").on("data", keep("err"));
    this.exited = new Promise((resolve) =>
      proc.once("exit", () => {
        this.alive = false;
        resolve();
      }),
    );
    await waitFor(
      `site ${this.name} to be up`,
      () => {
        if (this.out.includes(" is up — dashboard ")) return true;
        if (!this.alive) throw new Error(`site ${this.name} exited before it was up:\n${this.logTail()}`);
        return undefined;
      },
      UP_TIMEOUT_MS,
      20,
    );
    this.runtime();
    return performance.now() - t0;
  }

  get running(): boolean {
    return this.alive;
  }

  runtime(): Runtime {
    const r = JSON.parse(readFileSync(path.join(this.data, "runtime.json"), "utf8")) as Runtime;
    this.pids.add(r.pid);
    for (const p of Object.values(r.children)) this.pids.add(p);
    return r;
  }

  /** The launcher and every child it reported (db, worker, workerd, agent). */
  pidList(): number[] {
    try {
      const r = this.runtime();
      return [r.pid, ...Object.values(r.children)];
    } catch {
      return this.proc?.pid !== undefined ? [this.proc.pid] : [];
    }
  }

  token(): string {
    return readFileSync(path.join(this.data, "admin-token"), "utf8").trim();
  }

  async api(method: string, pathname: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const t0 = performance.now();
    const once = () =>
      fetch(`${this.url}${pathname}`, {
        method,
        headers: { authorization: `Bearer ${this.token()}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    let res: Response;
    try {
      // Every call made here is safe to repeat (adding a known peer answers 409). A site that
      // restarts its idle, bloated workerd refuses connections for ~0.3 s (B7 met one).
      res = await retryRefused(() => retryStale(once));
    } catch (err) {
      const cause = causeOf(err);
      const why = cause.code || cause.message ? ` (${[cause.code, cause.message].filter(Boolean).join(" ")})` : "";
      throw new Error(`site ${this.name}: ${method} ${pathname} failed after ${Math.round(performance.now() - t0)} ms: ${(err as Error).message}${why}`);
    }
    const text = await res.text();
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = { text };
    }
    return { status: res.status, json };
  }

  async addPeer(other: RunningSite): Promise<void> {
    const r = await this.api("POST", "/api/admin/peers", { url: other.url, name: other.name });
    if (r.status !== 201 && r.status !== 409) throw new Error(`linking ${this.name} → ${other.name}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  }

  /** Forgets `other` as a peer: a benchmark that stops sites must not leave the next one a dead peer to push to. */
  async removePeer(other: RunningSite): Promise<void> {
    const bare = (u: string) => u.replace(/\/+$/, "");
    const r = await this.api("GET", "/api/admin/peers");
    for (const p of (r.json["peers"] ?? []) as { id: string; url: string }[]) {
      if (bare(p.url) !== bare(other.url)) continue;
      const d = await this.api("DELETE", `/api/admin/peers/${encodeURIComponent(p.id)}`);
      if (d.status !== 200) throw new Error(`unlinking ${this.name} → ${other.name}: HTTP ${d.status} ${JSON.stringify(d.json)}`);
    }
  }

  /** The site's change sequence (how many row versions it has captured or received). */
  async seq(): Promise<number> {
    const r = await this.api("GET", "/api/admin/status");
    if (r.status !== 200) throw new Error(`site ${this.name}: GET /api/admin/status answered ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
    return Number(r.json["seq"] ?? 0);
  }

  /** Row versions its peers have that it has not pulled yet, summed over peers. */
  async pending(): Promise<number> {
    const r = await this.api("GET", "/api/admin/peers");
    return ((r.json["peers"] ?? []) as { pending?: number }[]).reduce((n, p) => n + (p.pending ?? 0), 0);
  }

  /** Every configured peer answered recently. */
  async peersOnline(): Promise<boolean> {
    const r = await this.api("GET", "/api/admin/peers");
    const peers = (r.json["peers"] ?? []) as { online?: boolean }[];
    return peers.length > 0 && peers.every((p) => p.online === true);
  }

  logTail(chars = 4000): string {
    return `--- stdout\n${this.out.slice(-chars)}\n--- stderr\n${this.err.slice(-chars)}`;
  }

  /** SIGINT, then (after 10 s) SIGKILL of everything this site ever reported. */
  async stop(): Promise<void> {
    if (this.proc === null) return;
    if (this.alive) {
      this.proc.kill("SIGINT");
      const done = await Promise.race([this.exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
      if (!done) this.killAll();
      await Promise.race([this.exited, sleep(5000)]);
    }
    // Children normally leave with the launcher; a straggler (a hung workerd) must not linger.
    await sleep(100);
    this.killAll(true);
    this.proc = null;
  }

  /** SIGKILL what is still ours: a child's whole process group (it leads one), workerd, the launcher. */
  killAll(onlyStragglers = false): void {
    for (const pid of this.pids) {
      if (onlyStragglers && pid === this.proc?.pid) continue;
      const cmd = commandLine(pid);
      if (cmd === null || !(cmd.includes("scoutsync") || cmd.includes("workerd"))) continue;
      try {
        process.kill(cmd.includes("__child") ? -pid : pid, "SIGKILL");
      } catch {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Gone.
        }
      }
    }
    if (!onlyStragglers && this.alive) this.proc?.kill("SIGKILL");
  }
}

/** fetch() hides what happened (ECONNRESET, a closed socket ...) in the error's cause. */
function causeOf(err: unknown): { code?: string; message?: string } {
  const cause = (err as { cause?: unknown }).cause;
  return cause !== null && typeof cause === "object" ? (cause as { code?: string; message?: string }) : {};
}

/** All the sites of one run, so that cleanup (even after a failure or Ctrl-C) stops every one. */
export class SiteFleet {
  readonly sites: RunningSite[] = [];

  /** Makes the folders (so the caller can prepare app.db and instance/ before start); does not start. */
  async create(opts: SiteOptions): Promise<RunningSite> {
    let port = opts.port;
    if (port === undefined || !(await isPortFree("127.0.0.1", port))) port = await freePort();
    const site = new RunningSite(opts.name, opts.dir, port, opts.echo);
    this.sites.push(site);
    return site;
  }

  async startNew(opts: SiteOptions, prepare?: (site: RunningSite) => void | Promise<void>): Promise<RunningSite> {
    const site = await this.create(opts);
    await prepare?.(site);
    await site.start();
    return site;
  }

  /** Stops the given sites (all of this fleet's by default), in parallel. */
  async stop(sites: readonly RunningSite[] = this.sites): Promise<void> {
    await Promise.allSettled(sites.map((s) => s.stop()));
    for (const s of sites) {
      const i = this.sites.indexOf(s);
      if (i >= 0) this.sites.splice(i, 1);
    }
  }

  /** Last resort on exit: SIGKILL everything, synchronously. */
  killAllNow(): void {
    for (const s of this.sites) s.killAll();
  }
}

/** Every site names every other as a peer, then waits until each sees all of them online. */
export async function linkMesh(sites: readonly RunningSite[], timeoutMs = 60_000): Promise<void> {
  for (const a of sites) for (const b of sites) if (a !== b) await a.addPeer(b);
  try {
    await waitFor("every peer to be online", async () => (await Promise.all(sites.map((s) => s.peersOnline()))).every(Boolean), timeoutMs, 200);
  } catch (err) {
    // Say why: each site's view of its peers (the last error is usually the answer), and the end of its log.
    const views = await Promise.all(
      sites.map(async (s) => `${s.name}: ${JSON.stringify((await s.api("GET", "/api/admin/peers").catch(() => ({ json: {} as Record<string, unknown> }))).json["peers"] ?? "no answer")}\n${s.logTail(1500)}`),
    );
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${views.join("\n")}`);
  }
}

/**
 * Waits until the sites have nothing left to pull from each other and their sequences stopped
 * moving (three polls in a row, 500 ms apart): the tail of a bulk transfer is over, so what is
 * measured next is the steady state. Returns the seconds it took.
 */
export async function waitQuiet(sites: readonly RunningSite[], timeoutMs = 600_000): Promise<number> {
  const t0 = performance.now();
  let last = "";
  let same = 0;
  await waitFor(
    "the sites to finish exchanging changes",
    async () => {
      const state = await Promise.all(sites.map(async (s) => [await s.seq(), await s.pending()]));
      const key = JSON.stringify(state);
      const idle = state.every(([, pending]) => pending === 0);
      same = idle && key === last ? same + 1 : 0;
      last = key;
      return same >= 2;
    },
    timeoutMs,
    500,
  );
  return (performance.now() - t0) / 1000;
}

export function bundleBuilt(): boolean {
  return existsSync(BUNDLE);
}
