/**
 * One supervised child process: spawn it, forward its lines with a prefix, wait for its ready
 * line, restart it with backoff when it dies, give up when it keeps dying, stop it on request.
 *
 * Each child runs in its own process group (detached), for two reasons: Ctrl-C reaches only the
 * launcher, which then stops the children in order; and a signal to the group also reaches
 * what the child started (workerd), so even SIGKILL leaves nothing behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import readline from "node:readline";
import { parseChildLine, type ChildKind, type ReadyLine } from "./child-protocol.js";

export interface SuperviseOptions {
  kind: ChildKind;
  /** argv after the node binary, e.g. [bundle, "__child", "db"]. */
  args: string[];
  /** Built fresh for every spawn: a restarted child may need what an earlier one reported. */
  env(): NodeJS.ProcessEnv;
  out(line: string): void;
  err(line: string): void;
  /**
   * Every ready line: each (re)start's first, and `again` for a later one from the same process
   * (the worker host announcing a restarted workerd).
   */
  onReady(ready: ReadyLine, again: boolean): void;
  /** A restart is scheduled after an unexpected exit. */
  onRestart(message: string): void;
  /** Too many crashes: the launcher should stop the site. */
  onGiveUp(message: string): void;
  stopGraceMs?: number;
  crashLimit?: number;
  crashWindowMs?: number;
}

/** The child died before it was ready; carries its last words for the user. */
export class ChildStartError extends Error {
  constructor(
    readonly kind: ChildKind,
    message: string,
  ) {
    super(message);
    this.name = "ChildStartError";
  }
}

const canGroupKill = process.platform !== "win32";

export class Supervised {
  private proc: ChildProcess | null = null;
  private ready: ReadyLine | null = null;
  private fatal: string | null = null;
  private lastErrLines: string[] = [];
  private crashes: number[] = [];
  private restartTimer: ReturnType<typeof setTimeout> | null = null;
  private stopping = false;
  private firstStart: { resolve(r: ReadyLine): void; reject(e: Error): void } | null = null;

  constructor(private readonly opts: SuperviseOptions) {}

  get pid(): number | null {
    return this.proc?.pid ?? null;
  }

  get lastReady(): ReadyLine | null {
    return this.ready;
  }

  /** Spawn and wait for the ready line; rejects (no restart) if the child dies first. */
  start(): Promise<ReadyLine> {
    return new Promise((resolve, reject) => {
      this.firstStart = { resolve, reject };
      this.spawnOnce();
    });
  }

  /**
   * SIGTERM to the child alone (it shuts down what it started, in order), SIGKILL to its whole
   * group after the grace period. Resolves once it is gone.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const proc = this.proc;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    // An 'error' (the signal could not be sent) must not reject: the grace SIGKILL follows.
    const exited = once(proc, "exit").catch(() => undefined);
    proc.kill("SIGTERM");
    const grace = setTimeout(() => signalGroup(proc, "SIGKILL"), this.opts.stopGraceMs ?? 5_000);
    await exited;
    clearTimeout(grace);
    // The child is gone; anything still in its group (a stuck workerd) goes with it.
    killGroup(proc.pid);
  }

  private spawnOnce(): void {
    this.ready = null;
    this.fatal = null;
    this.lastErrLines = [];
    const proc = spawn(process.execPath, this.opts.args, {
      env: this.opts.env(),
      // stdin stays open and unused: its EOF is how the child learns the launcher died.
      stdio: ["pipe", "pipe", "pipe"],
      detached: canGroupKill,
    });
    this.proc = proc;
    readline.createInterface(proc.stdout!).on("line", (line) => this.onStdout(line));
    readline.createInterface(proc.stderr!).on("line", (line) => {
      this.lastErrLines.push(line);
      if (this.lastErrLines.length > 20) this.lastErrLines.shift();
      this.opts.err(line);
    });
    // If we die the pipe closes; we never write to it, so EPIPE here is not news.
    proc.stdin!.on("error", () => undefined);
    proc.on("error", (err) => {
      // Spawn itself failed (no such file): there will be no exit event to wait for.
      if (proc.pid === undefined) void this.onExit(proc, null, null, err.message);
    });
    proc.on("exit", (code, signal) => void this.onExit(proc, code, signal));
  }

  private onStdout(line: string): void {
    const msg = parseChildLine(line);
    if (msg === null) return this.opts.out(line);
    if (msg.scoutsync === "fatal") {
      this.fatal = msg.message;
      return;
    }
    const again = this.ready !== null;
    this.ready = msg;
    this.opts.onReady(msg, again);
    const first = this.firstStart;
    this.firstStart = null;
    first?.resolve(msg);
  }

  private async onExit(proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null, spawnError?: string): Promise<void> {
    if (proc !== this.proc) return;
    // Let the last lines (the fatal message) drain before judging; bounded in case a
    // grandchild still holds the pipe open.
    await Promise.race([once(proc, "close").catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
    this.proc = null;
    killGroup(proc.pid);
    const how = signal !== null ? `signal ${signal}` : `exit code ${code ?? "?"}`;
    const first = this.firstStart;
    if (first !== null) {
      this.firstStart = null;
      const why = spawnError ?? this.fatal ?? this.lastErrLines.slice(-3).join(" | ");
      first.reject(new ChildStartError(this.opts.kind, `the ${this.opts.kind} child stopped before it was ready (${how})${why ? `: ${why}` : ""}`));
      return;
    }
    if (!this.stopping) this.crashed(how);
  }

  private crashed(how: string): void {
    const now = Date.now();
    const window = this.opts.crashWindowMs ?? 60_000;
    const limit = this.opts.crashLimit ?? 5;
    this.crashes = this.crashes.filter((t) => now - t < window);
    this.crashes.push(now);
    if (this.crashes.length >= limit) {
      this.opts.onGiveUp(`the ${this.opts.kind} child crashed ${this.crashes.length} times within ${Math.round(window / 1000)} s (last: ${how})`);
      return;
    }
    const delay = Math.min(250 * 2 ** (this.crashes.length - 1), 10_000);
    this.opts.onRestart(`the ${this.opts.kind} child exited unexpectedly (${how}); restarting it in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.stopping) this.spawnOnce();
    }, delay);
  }
}

function signalGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined) return;
  try {
    if (canGroupKill) process.kill(-proc.pid, signal);
    else proc.kill(signal);
  } catch {
    // Already gone.
  }
}

/** SIGKILL whatever is left in a dead child's process group. */
function killGroup(pid: number | undefined): void {
  if (!canGroupKill || pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // ESRCH: the group is empty, which is the normal case.
  }
}
