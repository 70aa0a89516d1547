/**
 * B4: initial sync of a full database. A's app.db holds the rows before scoutsync starts there
 * (the app's existing data); B is a new, empty site (schema only, as its app would create it).
 * The clock runs from the moment the two are linked until B holds every row with the same
 * content. Anchor: a plain `libsql` insert of the same rows (prepared statement, one
 * transaction) into a fresh file, in this process.
 */
import path from "node:path";
import type { Benchmark } from "../benchmark.js";
import type { BenchContext } from "../context.js";
import { createSchema, fingerprint, fingerprintOf, insertWorkload, openReader, openWriter, count } from "../db.js";
import type { Outcome } from "../outcome.js";
import { waitQuiet, type RunningSite } from "../sites.js";
import { formatNumber, formatRatio, ratio, round } from "../stats.js";
import { waitFor, waitPolite } from "../wait.js";
import { scoutingWorkload, type ScoutingWorkload } from "../workload-db.js";

const TARGET = "≥ 10 % of the plain insert rate (≥ 50k rows/s)";

/** Rows per second of a plain libsql insert of the whole workload into a fresh file. */
export function plainInsertRate(ctx: BenchContext, w: ScoutingWorkload, label: string): { seconds: number; rowsPerS: number } {
  const file = path.join(ctx.dir(`${label}-plain`), "plain.db");
  const db = openWriter(file);
  try {
    createSchema(db);
    const rows = [...w.entries()];
    const t0 = performance.now();
    const n = insertWorkload(db, w, rows);
    const seconds = (performance.now() - t0) / 1000;
    return { seconds, rowsPerS: n / seconds };
  } finally {
    db.close();
  }
}

/** Waits until A has captured its pre-existing rows (its sequence covers them and stops moving). */
export async function waitCaptured(a: RunningSite, rows: number, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  let last = -1;
  await waitFor(
    `site ${a.name} to capture ${formatNumber(rows)} existing rows`,
    async () => {
      const seq = await a.seq();
      const settled = seq >= rows && seq === last;
      last = seq;
      return settled;
    },
    timeoutMs,
    250,
  );
  return (performance.now() - t0) / 1000;
}

/**
 * Links `b` to `a` (both ways) and times until b's app.db has a's content. Returns seconds from
 * the link, and from the first arriving row.
 */
export async function timeInitialSync(a: RunningSite, b: RunningSite, expectedEntries: number, timeoutMs: number): Promise<{ seconds: number; firstRowS: number | null; fromFirstRowS: number }> {
  const want = fingerprintOf(a.db);
  const reader = openReader(b.db);
  try {
    const t0 = performance.now();
    await b.addPeer(a);
    await a.addPeer(b);
    let first: number | null = null;
    const end = await waitPolite(
      `${formatNumber(expectedEntries)} entries to reach site ${b.name}`,
      () => {
        const n = count(reader, "entries");
        if (n > 0 && first === null) first = performance.now();
        return n >= expectedEntries && fingerprint(reader) === want;
      },
      timeoutMs,
    );
    const firstRowS = first === null ? null : (first - t0) / 1000;
    return { seconds: (end - t0) / 1000, firstRowS, fromFirstRowS: first === null ? (end - t0) / 1000 : (end - first) / 1000 };
  } finally {
    reader.close();
  }
}

export const b4: Benchmark = {
  id: "B4",
  title: "bulk rows: initial sync A → B, rows/s",
  target: TARGET,
  async run(ctx: BenchContext): Promise<Outcome> {
    const entries = ctx.sizes.b4.rows;
    const w = scoutingWorkload(ctx.seed, { entries });
    const sizes = { total_rows: w.total, ...w.counts, entry_columns: 11 };
    ctx.log(`  sizes: ${formatNumber(entries)} scouting entries × 11 columns, plus ${formatNumber(w.counts.matches)} matches, ${w.counts.teams} teams, ${w.counts.pit_notes} pit notes with photos = ${formatNumber(w.total)} rows`);
    const plain = plainInsertRate(ctx, w, "b4");
    ctx.log(`  anchor: plain libsql insert of the same rows: ${formatNumber(plain.rowsPerS)} rows/s (${plain.seconds.toFixed(2)} s)`);

    const a = await ctx.prepareSite("b4-a", { schema: true, workload: w });
    const b = await ctx.prepareSite("b4-b", { schema: true });
    await Promise.all([a.start(), b.start()]);
    const captureS = await waitCaptured(a, w.total, 600_000);
    ctx.log(`  site A captured its ${formatNumber(w.total)} existing rows within ${captureS.toFixed(1)} s of being up`);
    const sync = await timeInitialSync(a, b, entries, 900_000);
    const rowsPerS = w.total / sync.seconds;
    const transferRate = w.total / sync.fromFirstRowS;
    ctx.log(`  scoutsync initial sync: ${sync.seconds.toFixed(2)} s from link to all rows = ${formatNumber(rowsPerS)} rows/s (first row after ${sync.firstRowS?.toFixed(2) ?? "?"} s; ${formatNumber(transferRate)} rows/s from then)`);
    const ratios = { sync_vs_plain_insert: ratio(rowsPerS, plain.rowsPerS), after_first_row_vs_plain_insert: ratio(transferRate, plain.rowsPerS) };
    ctx.log(`  ratio to the plain insert: ${formatRatio(ratios.sync_vs_plain_insert)} (${(ratios.sync_vs_plain_insert * 100).toFixed(1)} %)`);
    // B sends nothing back (every row came from A unchanged); quiet is three unchanged polls 0.5 s apart.
    const quietS = await waitQuiet([a, b], 1_800_000);
    ctx.log(`  the pair was quiet again ${quietS.toFixed(1)} s after B had every row (of which 1.0 s is the quiet check itself)`);
    const check = openReader(b.db);
    const landed = count(check, "entries");
    check.close();
    ctx.handOn("B4", { a, b, workload: w }, ["B8", "B7"]);
    return {
      id: "B4",
      title: b4.title,
      status: "ok",
      sizes,
      figures: {
        sync_s: round(sync.seconds, 3),
        rows_per_s: round(rowsPerS),
        first_row_after_s: sync.firstRowS === null ? null : round(sync.firstRowS, 3),
        rows_per_s_after_first_row: round(transferRate),
        capture_existing_s: round(captureS, 2),
        quiet_after_sync_s: round(quietS, 2),
        entries_on_b: landed,
      },
      anchors: { plain_insert_rows_per_s: round(plain.rowsPerS), plain_insert_s: round(plain.seconds, 3) },
      ratios,
      target: TARGET,
      pass: ratios.sync_vs_plain_insert >= 0.1,
      headline: { figure: `${formatNumber(rowsPerS)} rows/s`, anchor: `${formatNumber(plain.rowsPerS)} rows/s plain`, ratio: formatRatio(ratios.sync_vs_plain_insert) },
      notes: ["the time runs from linking the two sites; the first rows move at the next tick or push after the link"],
    };
  },
};
