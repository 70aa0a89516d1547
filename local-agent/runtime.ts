/**
 * The files in the data folder that tie a running site to the CLI: the lock (one site per data
 * folder), the admin token (how the CLI and agent prove they are local) and runtime.json (where
 * the running site listens). All small, all written so a crash never leaves a half file.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { commandLine, isAlive } from "./procs.js";

export const dataFiles = (data: string) => ({
  lock: path.join(data, "scoutsync.lock"),
  token: path.join(data, "admin-token"),
  runtime: path.join(data, "runtime.json"),
  state: path.join(data, "scoutsync.db"),
});

export class DataInUseError extends Error {
  constructor(
    readonly data: string,
    readonly pid: number,
  ) {
    super(`the data folder ${data} is in use by another scoutsync (pid ${pid}); stop it or pass a different --data`);
    this.name = "DataInUseError";
  }
}

export interface Lock {
  release(): void;
}

/**
 * Take the data folder's lock. A lock whose pid is dead (or alive but no longer a scoutsync:
 * the pid was reused after a crash) is stale and taken over.
 */
export function acquireLock(data: string, pid = process.pid): Lock {
  const file = dataFiles(data).lock;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o644);
      writeSync(fd, `${pid}\n`);
      closeSync(fd);
      return { release: () => releaseLock(file, pid) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = readPid(file);
    if (holder !== null && holder !== pid && holdsLock(holder)) throw new DataInUseError(data, holder);
    takeOverStale(file, data, pid);
  }
  throw new Error(`could not take the lock ${file}: it keeps changing; is another scoutsync starting?`);
}

/**
 * Move the stale lock aside under a name only we use, then look again at what we moved: if a
 * racing start had already replaced it with a live lock, put that back and refuse.
 */
function takeOverStale(file: string, data: string, pid: number): void {
  const aside = `${file}.stale-${pid}`;
  try {
    renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return; // someone else moved it; retry
    throw err;
  }
  const moved = readPid(aside);
  if (moved !== null && moved !== pid && holdsLock(moved)) {
    try {
      linkSync(aside, file);
    } catch {
      // A third start took the slot; it will see the live holder itself.
    }
    unlinkQuiet(aside);
    throw new DataInUseError(data, moved);
  }
  unlinkQuiet(aside);
}

function holdsLock(pid: number): boolean {
  if (!isAlive(pid)) return false;
  const cmd = commandLine(pid);
  // Unknown command (no /proc, no ps): assume it is ours rather than risk two sites on one db.
  return cmd === null || cmd.includes("scoutsync");
}

function releaseLock(file: string, pid: number): void {
  if (readPid(file) === pid) unlinkQuiet(file);
}

function readPid(file: string): number | null {
  try {
    const n = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

function unlinkQuiet(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Already gone is what we wanted.
  }
}

const TOKEN_RE = /^[0-9a-f]{64}$/;

/** The local admin token, created once: 32 random bytes as hex, readable by the owner only. */
export function ensureAdminToken(data: string): string {
  const file = dataFiles(data).token;
  try {
    const fd = openSync(file, "wx", 0o600);
    const token = randomBytes(32).toString("hex");
    writeSync(fd, `${token}\n`);
    closeSync(fd);
    return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  const token = readFileSync(file, "utf8").trim();
  if (!TOKEN_RE.test(token)) {
    throw new Error(`${file} does not hold a valid admin token; delete it and start again to make a new one`);
  }
  // Someone may have copied the folder with a loose umask; a readable token is a local root key.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return token;
}

export function readAdminToken(data: string): string | null {
  try {
    const token = readFileSync(dataFiles(data).token, "utf8").trim();
    return TOKEN_RE.test(token) ? token : null;
  } catch {
    return null;
  }
}

export const RuntimeInfoSchema = z.object({
  pid: z.number().int(),
  port: z.number().int(),
  host: z.string(),
  dbPort: z.number().int(),
  startedAt: z.number(),
  name: z.string(),
  version: z.string(),
  data: z.string(),
  instance: z.string(),
  db: z.string(),
  /** Child pids (and workerd's), so tests and a later start can find leftovers. */
  children: z.record(z.string(), z.number().int()),
});
export type RuntimeInfo = z.infer<typeof RuntimeInfoSchema>;

export function writeRuntime(data: string, info: RuntimeInfo): void {
  const file = dataFiles(data).runtime;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

export function readRuntime(data: string): RuntimeInfo | null {
  try {
    const parsed = RuntimeInfoSchema.safeParse(JSON.parse(readFileSync(dataFiles(data).runtime, "utf8")));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export function removeRuntime(data: string, pid = process.pid): void {
  const file = dataFiles(data).runtime;
  // Only our own: a second start that was refused must not delete the running site's file.
  if (readRuntime(data)?.pid === pid) unlinkQuiet(file);
}
