/**
 * CPU and memory of a set of processes, from /proc (Linux): CPU time is utime + stime of
 * /proc/PID/stat, RSS is VmRSS of /proc/PID/status, PSS comes from /proc/PID/smaps_rollup.
 * PSS is the fair figure for a site: its five processes share the node binary's pages, which
 * RSS counts once per process.
 */
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { cpuTicks, kbField, readStat } from "../local-agent/procs.js";

let clockTicks: number | null = null;

/** USER_HZ, what /proc's CPU times count in (100 nearly everywhere). */
export function ticksPerSecond(): number {
  if (clockTicks !== null) return clockTicks;
  try {
    clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    clockTicks = 100;
  }
  return clockTicks;
}

export const rssKiB = (pid: number) => kbField(`/proc/${pid}/status`, "VmRSS");
export const pssKiB = (pid: number) => kbField(`/proc/${pid}/smaps_rollup`, "Pss");

/** pid → parent pid for every process now. */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    // null: exited while we looked.
    const stat = readStat(entry);
    if (stat !== null) out.set(Number(entry), Number(stat.fields[1]));
  }
  return out;
}

/** The given pids and all their descendants that are alive now. */
export function withDescendants(roots: readonly number[]): number[] {
  const ppid = parents();
  const all = new Set(roots.filter((p) => ppid.has(p)));
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, parent] of ppid) {
      if (!all.has(pid) && all.has(parent)) {
        all.add(pid);
        grew = true;
      }
    }
  }
  return [...all].sort((a, b) => a - b);
}

export interface Usage {
  seconds: number;
  /** Percent of one core over the window. */
  cpuPct: number;
  rssMeanMiB: number;
  rssMaxMiB: number;
  pssMeanMiB: number;
  pssMaxMiB: number;
  processes: number;
}

/**
 * Samples a process group once a second over `seconds`: CPU is the difference of the summed
 * CPU times (a process that exits mid-window takes its share with it), memory is summed per sample.
 */
export async function sampleUsage(groups: Record<string, () => number[]>, seconds: number): Promise<Record<string, Usage>> {
  const names = Object.keys(groups);
  const pidsAt = () => Object.fromEntries(names.map((n) => [n, withDescendants(groups[n]!())]));
  const ticks = (pids: number[]) => new Map(pids.map((p) => [p, cpuTicks(p) ?? 0]));
  let pids = pidsAt();
  const start = Object.fromEntries(names.map((n) => [n, ticks(pids[n]!)]));
  const t0 = performance.now();
  const mem: Record<string, { rss: number[]; pss: number[] }> = Object.fromEntries(names.map((n) => [n, { rss: [], pss: [] }]));
  const deadline = t0 + seconds * 1000;
  for (;;) {
    pids = pidsAt();
    for (const n of names) {
      mem[n]!.rss.push(sum(pids[n]!.map((p) => rssKiB(p) ?? 0)) / 1024);
      mem[n]!.pss.push(sum(pids[n]!.map((p) => pssKiB(p) ?? 0)) / 1024);
    }
    const left = deadline - performance.now();
    if (left <= 0) break;
    await new Promise((r) => setTimeout(r, Math.min(1000, left)));
  }
  const elapsed = (performance.now() - t0) / 1000;
  const hz = ticksPerSecond();
  const out: Record<string, Usage> = {};
  for (const n of names) {
    let used = 0;
    for (const p of pids[n]!) {
      const now = cpuTicks(p);
      if (now !== null) used += now - (start[n]!.get(p) ?? 0);
    }
    const { rss, pss } = mem[n]!;
    out[n] = {
      seconds: Math.round(elapsed * 10) / 10,
      cpuPct: (used / hz / elapsed) * 100,
      rssMeanMiB: sum(rss) / rss.length,
      rssMaxMiB: Math.max(...rss),
      pssMeanMiB: sum(pss) / pss.length,
      pssMaxMiB: Math.max(...pss),
      processes: pids[n]!.length,
    };
  }
  return out;
}

function sum(xs: readonly number[]): number {
  return xs.reduce((s, x) => s + x, 0);
}
