/**
 * Small process facts the launcher needs: is a pid alive, what does it run, which children does
 * it have. Pids are reused by the OS, so anything that kills by a remembered pid first checks the
 * command still looks like ours.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else, which still means "alive".
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The full command line of a pid, or null when it is gone or cannot be read. */
export function commandLine(pid: number): string | null {
  if (!isAlive(pid)) return null;
  try {
    // Linux: NUL-separated argv, readable without spawning anything.
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    try {
      return execFileSync("ps", ["-o", "command=", "-p", String(pid)], { encoding: "utf8" }).trim() || null;
    } catch {
      return null;
    }
  }
}

/**
 * A process's /proc/PID/stat (Linux): its command, and the fields after it, so that fields[0] is
 * the state, fields[1] the ppid, fields[11] and fields[12] utime and stime (man 5 proc, fields 3
 * on). The command sits in parentheses and may contain spaces. Null when the process is gone.
 */
export function readStat(pid: number | string): { command: string; fields: string[] } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    return { command: stat.slice(stat.indexOf("(") + 1, close), fields: stat.slice(close + 2).split(" ") };
  } catch {
    return null;
  }
}

/** CPU a process used so far (utime + stime, in clock ticks: USER_HZ, 100 a second on Linux); null when it is gone. */
export function cpuTicks(pid: number): number | null {
  const stat = readStat(pid);
  return stat === null ? null : Number(stat.fields[11]) + Number(stat.fields[12]);
}

/** A "Name:   123 kB" line of a /proc file (status, smaps_rollup), in KiB; null when absent or gone. */
export function kbField(file: string, name: string): number | null {
  try {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(readFileSync(file, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Direct children of `parent` as {pid, command}. Linux reads /proc; elsewhere asks ps. */
export function childrenOf(parent: number): { pid: number; command: string }[] {
  try {
    const out: { pid: number; command: string }[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = readStat(entry);
      if (stat !== null && Number(stat.fields[1]) === parent) out.push({ pid: Number(entry), command: stat.command });
    }
    return out;
  } catch {
    try {
      const text = execFileSync("ps", ["-A", "-o", "pid=,ppid=,comm="], { encoding: "utf8" });
      return text
        .split("\n")
        .map((line) => line.trim().split(/\s+/))
        .filter((f) => Number(f[1]) === parent)
        .map((f) => ({ pid: Number(f[0]), command: f.slice(2).join(" ") }));
    } catch {
      return [];
    }
  }
}

/** SIGKILL `pid` only if its command line still contains `mustMatch` (pid reuse guard). */
export function killIfStillOurs(pid: number, mustMatch: string): boolean {
  const cmd = commandLine(pid);
  if (cmd === null || !cmd.includes(mustMatch)) return false;
  try {
    process.kill(pid, "SIGKILL");
    return true;
  } catch {
    return false;
  }
}
