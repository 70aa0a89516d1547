/**
 * Runs real sites for the integration tests: `node dist/scoutsync.js start` on free loopback
 * ports in a temporary folder. Every wait is bounded; every pid a site reports is remembered
 * so that cleanup kills only what these tests started.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const BUNDLE = fileURLToPath(new URL("../../dist/scoutsync.js", import.meta.url));

export interface Runtime {
  pid: number;
  port: number;
  host: string;
  dbPort: number;
  name: string;
  children: Record<string, number>;
}

/** Every pid any site reported, and every folder made, for the final sweep. */
const seenPids = new Set<number>();
const roots: string[] = [];

export function tempRoot(prefix: string): string {
  const root = mkdtempSync(path.join(tmpdir(), `scoutsync-${prefix}-`));
  roots.push(root);
  return root;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

/** Alive and not a zombie (a reaped-late zombie is dead for every purpose that matters). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

export async function waitUntil<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function ping(port: number): Promise<{ status: number; body: Record<string, unknown> | null }> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/sync/ping`, { signal: AbortSignal.timeout(5_000) });
    const text = await res.text();
    let body: Record<string, unknown> | null = null;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = null;
    }
    return { status: res.status, body };
  } catch {
    return { status: 0, body: null };
  }
}

export class Site {
  readonly proc: ChildProcess;
  out = "";
  err = "";
  private exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly root: string,
    readonly args: string[],
  ) {
    this.proc = spawn(process.execPath, [BUNDLE, "start", ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stdout!.setEncoding("utf8").on("data", (d: string) => (this.out += d));
    this.proc.stderr!.setEncoding("utf8").on("data", (d: string) => (this.err += d));
    this.exit = new Promise((resolve) => this.proc.on("exit", (code, signal) => resolve({ code, signal })));
    if (this.proc.pid !== undefined) seenPids.add(this.proc.pid);
  }

  /** A site in `root` with data/ and instance/ there, on a free port, loopback only. */
  static async start(root: string, name: string, extra: string[] = []): Promise<{ site: Site; port: number }> {
    // A free port can be taken by another test file's process before the site binds it: try another.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const site = new Site(root, ["--data", "data", "--instance", "instance", "--port", String(port), "--host", "127.0.0.1", "--name", name, ...extra]);
      try {
        await site.waitForUp();
        return { site, port };
      } catch (err) {
        if (attempt >= 3 || !/Address already in use/.test(String(err))) throw err;
      }
    }
  }

  get dataDir(): string {
    return path.join(this.root, "data");
  }

  async waitForUp(timeoutMs = 60_000): Promise<string> {
    let exited = false;
    void this.exit.then(() => (exited = true));
    return waitUntil(
      "the site's \"is up\" line",
      () => {
        const line = this.out.split("\n").find((l) => l.includes(" is up — dashboard "));
        if (line) return line;
        if (exited) throw new Error(`the site exited before it was up:\n${this.out}\n${this.err}`);
        return undefined;
      },
      timeoutMs,
    );
  }

  runtime(): Runtime {
    const r = JSON.parse(readFileSync(path.join(this.dataDir, "runtime.json"), "utf8")) as Runtime;
    for (const pid of [r.pid, ...Object.values(r.children)]) seenPids.add(pid);
    return r;
  }

  waitForExit(timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return Promise.race([
      this.exit,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`site did not exit within ${timeoutMs} ms\n${this.err}`)), timeoutMs).unref()),
    ]);
  }

  signal(sig: NodeJS.Signals): void {
    this.proc.kill(sig);
  }
}

/** Run the CLI to completion (status, peer ...). */
export function cli(cwd: string, ...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BUNDLE, ...args], { cwd, encoding: "utf8", timeout: 30_000, input: "" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Kill whatever a test left behind (only pids the sites reported), then remove the folders. */
export function sweep(): void {
  killLeftovers();
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
}

function killLeftovers(): void {
  for (const pid of seenPids) {
    if (!isRunning(pid)) continue;
    // Pids are reused: only kill what still looks like ours.
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (!cmd.includes("scoutsync") && !cmd.includes("workerd")) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone.
    }
  }
}

export function remember(pids: number[]): void {
  for (const p of pids) seenPids.add(p);
}
