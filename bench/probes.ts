/**
 * Measuring propagation from the outside, as an app would see it: write into one site's app.db
 * (or instance folder) with our own connection, then poll the other sites' files every ~1 ms
 * until the change is readable there.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { openReader, openWriter, type Db } from "./db.js";
import { readOr } from "./context.js";
import { seeded } from "./random.js";
import type { RunningSite } from "./sites.js";
import { sleep } from "./wait.js";
import { PROBE_INSERT_SQL, PROBE_SELECT_SQL } from "./workload-db.js";

export interface Samples {
  /** Milliseconds until the change was readable on every target, one per delivered sample. */
  ms: number[];
  /** Samples that did not arrive everywhere within the timeout. */
  timeouts: number;
  /** How long the app's own write took (it waits while the site holds the write lock). */
  writeMs?: number[];
}

export interface ProbeOptions {
  label: string;
  samples: number;
  warmup?: number;
  timeoutMs?: number;
  /** Pause between samples, [min, max] ms, drawn from the seed: samples must not pile into one batch. */
  gapMs?: [number, number];
  seed: number;
}

/**
 * One row per sample into `from`'s app.db (autocommit, as a web app's request does); the time
 * runs from the moment the INSERT has committed until a read-only connection to each target's
 * app.db sees the row. The INSERT's own duration is kept apart (writeMs): it is what the app
 * waits when the site holds the database's write lock.
 */
export async function rowLatencies(from: RunningSite, to: readonly RunningSite[], opts: ProbeOptions): Promise<Samples> {
  const writer = openWriter(from.db);
  const readers: Db[] = to.map((s) => openReader(s.db));
  const insert = writer.prepare(PROBE_INSERT_SQL);
  const selects = readers.map((r) => r.prepare(PROBE_SELECT_SQL).raw(true));
  const gaps = seeded(opts.seed).fork(`gaps:${opts.label}`);
  const [gapMin, gapMax] = opts.gapMs ?? [60, 160];
  const out: Samples = { ms: [], timeouts: 0, writeMs: [] };
  try {
    const warm = opts.warmup ?? 3;
    for (let i = -warm; i < opts.samples; i++) {
      const tag = `${opts.label}-${process.pid}-${Date.now()}-${i}`;
      const tw = performance.now();
      insert.run(opts.label, tag);
      const t0 = performance.now();
      if (i >= 0) out.writeMs!.push(t0 - tw);
      const done = await untilEverywhere(t0, selects.length, (k) => selects[k]!.get(tag) !== undefined, opts.timeoutMs);
      if (i >= 0) record(out, done);
      await sleep(gaps.int(gapMin, gapMax));
    }
  } finally {
    writer.close();
    for (const r of readers) r.close();
  }
  return out;
}

/**
 * One small file per sample written into `fromDir` (a plain write, as an app saves a config);
 * the time runs from just before the write until each target folder holds the same bytes.
 */
export async function fileLatencies(fromDir: string, toDirs: readonly string[], opts: ProbeOptions & { bytes: number; subdir: string }): Promise<Samples> {
  const gaps = seeded(opts.seed).fork(`gaps:${opts.label}`);
  const content = seeded(opts.seed).fork(`content:${opts.label}`);
  const [gapMin, gapMax] = opts.gapMs ?? [60, 160];
  mkdirSync(path.join(fromDir, opts.subdir), { recursive: true });
  const out: Samples = { ms: [], timeouts: 0 };
  const warm = opts.warmup ?? 2;
  for (let i = -warm; i < opts.samples; i++) {
    const rel = path.join(opts.subdir, `${opts.label}-${i + warm}.bin`);
    const body = Buffer.from(content.bytes(opts.bytes)).toString("base64").slice(0, opts.bytes);
    const t0 = performance.now();
    writeFileSync(path.join(fromDir, rel), body);
    const done = await untilEverywhere(t0, toDirs.length, (k) => readOr(path.join(toDirs[k]!, rel)) === body, opts.timeoutMs);
    if (i >= 0) record(out, done);
    await sleep(gaps.int(gapMin, gapMax));
  }
  return out;
}

/**
 * Polls every ~1 ms until `arrived(k)` held once for each of the `targets` (a target is not looked
 * at again once it has the change): milliseconds since `t0`, or null past the timeout.
 */
async function untilEverywhere(t0: number, targets: number, arrived: (k: number) => boolean, timeoutMs = 10_000): Promise<number | null> {
  const pending = new Set(Array.from({ length: targets }, (_, k) => k));
  const deadline = t0 + timeoutMs;
  for (;;) {
    for (const k of [...pending]) if (arrived(k)) pending.delete(k);
    if (pending.size === 0) return performance.now() - t0;
    if (performance.now() > deadline) return null;
    await sleep(1);
  }
}

function record(out: Samples, done: number | null): void {
  if (done === null) out.timeouts++;
  else out.ms.push(done);
}
