/**
 * bench/results.json: a JSON array with one record per benchmark run, appended (never
 * rewritten in place: a temp file then a rename, so an interrupted run cannot truncate it).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import os from "node:os";
import { jsonRatios, type Figure, type Outcome } from "./outcome.js";

export interface Machine {
  cores: number;
  memoryMiB: number;
  cpu: string;
  os: string;
}

export interface ResultRecord {
  date: string;
  commit: string;
  machine: Machine;
  node: string;
  benchmark: string;
  title: string;
  status: Outcome["status"];
  reason?: string;
  quick: boolean;
  seed: number;
  sizes: Record<string, Figure>;
  figures: Record<string, Figure>;
  anchors: Record<string, Figure>;
  ratios: Record<string, number | null>;
  target: string;
  pass: boolean | null;
  notes: string[];
}

export function machine(): Machine {
  return {
    cores: os.cpus().length,
    memoryMiB: Math.round(os.totalmem() / 1024 / 1024),
    cpu: os.cpus()[0]?.model.trim() ?? "unknown",
    os: `${os.type()} ${os.release()}`,
  };
}

/** HEAD's short hash, with "-dirty" when the working tree has changes; "unknown" outside git. */
export function gitCommit(cwd: string): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() !== "";
    return dirty ? `${head}-dirty` : head;
  } catch {
    return "unknown";
  }
}

export function toRecord(o: Outcome, ctx: { date: Date; commit: string; machine: Machine; quick: boolean; seed: number }): ResultRecord {
  return {
    date: ctx.date.toISOString(),
    commit: ctx.commit,
    machine: ctx.machine,
    node: process.version,
    benchmark: o.id,
    title: o.title,
    status: o.status,
    ...(o.reason === undefined ? {} : { reason: o.reason }),
    quick: ctx.quick,
    seed: ctx.seed,
    sizes: o.sizes,
    figures: o.figures,
    anchors: o.anchors,
    ratios: jsonRatios(o.ratios),
    target: o.target,
    pass: o.pass,
    notes: o.notes,
  };
}

/** Appends records to the array in `file` (created when missing). A file that is not an array is refused, not overwritten. */
export function appendResults(file: string, records: readonly ResultRecord[]): void {
  let existing: unknown[] = [];
  if (existsSync(file)) {
    const text = readFileSync(file, "utf8").trim();
    if (text !== "") {
      const parsed = JSON.parse(text) as unknown;
      if (!Array.isArray(parsed)) throw new Error(`${file} is not a JSON array; move it aside and run again`);
      existing = parsed;
    }
  }
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify([...existing, ...records], null, 2)}\n`);
  renameSync(tmp, file);
}
