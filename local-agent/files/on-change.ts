/**
 * The app reload hook (`--on-change CMD`, `--on-change-url URL`): after a batch of received files
 * lands, run a shell command and/or POST {paths} to a URL, so an app that caches its config
 * picks the new files up. Debounced (a burst of files is one call) and never overlapping.
 */
import { spawn } from "node:child_process";
import readline from "node:readline";

export interface OnChangeOptions {
  command?: string | undefined;
  url?: string | undefined;
  log(line: string): void;
  debounceMs?: number;
}

/** Paths listed in the environment of the command, up to this many bytes (the rest is in the count). */
const MAX_ENV_BYTES = 64 * 1024;

export class OnChangeHook {
  private readonly paths = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<void> | null = null;
  /** Completed runs (for tests). */
  runs = 0;

  constructor(private readonly opts: OnChangeOptions) {}

  get enabled(): boolean {
    return Boolean(this.opts.command || this.opts.url);
  }

  add(paths: readonly string[]): void {
    if (!this.enabled) return;
    for (const p of paths) this.paths.add(p);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fire();
    }, this.opts.debounceMs ?? 200);
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.running !== null) await this.running;
  }

  private fire(): void {
    if (this.running !== null) {
      // One run at a time: what landed meanwhile goes in the next one.
      void this.running.then(() => this.add([]));
      return;
    }
    const paths = [...this.paths].sort();
    this.paths.clear();
    if (paths.length === 0) return;
    this.running = Promise.all([this.runCommand(paths), this.post(paths)])
      .then(() => void this.runs++)
      .finally(() => {
        this.running = null;
      });
  }

  private runCommand(paths: string[]): Promise<void> {
    const command = this.opts.command;
    if (!command) return Promise.resolve();
    const log = (line: string) => this.opts.log(`[on-change] ${line}`);
    let listed = paths.join("\n");
    if (Buffer.byteLength(listed) > MAX_ENV_BYTES) listed = listed.slice(0, MAX_ENV_BYTES);
    return new Promise((resolve) => {
      const child = spawn(command, {
        shell: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, SCOUTSYNC_CHANGED: listed, SCOUTSYNC_CHANGED_COUNT: String(paths.length) },
      });
      readline.createInterface(child.stdout).on("line", log);
      readline.createInterface(child.stderr).on("line", log);
      child.on("error", (err) => {
        log(`could not run ${JSON.stringify(command)}: ${err.message}`);
        resolve();
      });
      child.on("exit", (code, signal) => {
        if (code !== 0) log(`${JSON.stringify(command)} exited with ${signal ?? `code ${code}`}`);
        resolve();
      });
    });
  }

  private async post(paths: string[]): Promise<void> {
    const url = this.opts.url;
    if (!url) return;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ paths }),
        signal: AbortSignal.timeout(10_000),
      });
      await res.body?.cancel();
      if (!res.ok) this.opts.log(`[on-change] ${url} answered HTTP ${res.status}`);
    } catch (err) {
      this.opts.log(`[on-change] POST ${url} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
