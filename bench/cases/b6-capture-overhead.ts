/**
 * B6: what the capture triggers cost the app. The same workload (inserts, then updates) runs
 * through a plain `libsql` connection on a database with scoutsync's triggers (installed by the
 * engine's own captureLocal, as a site does) and on one without; the ratio is with ÷ without.
 * Two shapes: everything in one transaction each (where trigger work is most visible) and one
 * commit per statement (how a web app writes; the commit dominates). Arms alternate, fresh files
 * each repetition, median of the repetitions.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { captureLocal } from "../../functions/db/engine.js";
import { openDb, sqlDb } from "../../test/support/libsql-db.js";
import type { Benchmark } from "../benchmark.js";
import type { BenchContext } from "../context.js";
import { createSchema, insertWorkload, openWriter, type Db } from "../db.js";
import type { Outcome } from "../outcome.js";
import { median, ratio, formatNumber, formatRatio, round } from "../stats.js";
import { CHANGE_SQL, INSERT_SQL, scoutingWorkload, type Row } from "../workload-db.js";

const TARGET = "with ÷ without ≤ 1.5×";

interface ArmTimes {
  bulkInsert: number;
  bulkUpdate: number;
  commitInsert: number;
  commitUpdate: number;
}

async function prepare(file: string, seedRows: ReturnType<typeof scoutingWorkload>, triggers: boolean): Promise<void> {
  const w = openWriter(file);
  try {
    createSchema(w);
    insertWorkload(w, seedRows, []);
  } finally {
    w.close();
  }
  if (!triggers) return;
  const db = openDb(file);
  try {
    await captureLocal(sqlDb(db), { site: randomBytes(8).toString("hex"), now: () => Date.now(), cache: {} });
  } finally {
    db.close();
  }
}

function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

function inTransaction(db: Db, fn: () => void): void {
  db.exec("BEGIN");
  try {
    fn();
    db.exec("COMMIT");
  } catch (err) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw err;
  }
}

function runArm(file: string, bulk: Row[], commits: Row[], offset: number): ArmTimes {
  const db = openWriter(file);
  try {
    const ins = db.prepare(INSERT_SQL.entries);
    const upd = db.prepare(CHANGE_SQL.update);
    const update = (r: Row) => upd.run(Number(r[5]) + 1, `${String(r[9])} (edited)`, r[0]);
    const shift = (r: Row): Row => [Number(r[0]) + offset, ...r.slice(1)];
    return {
      bulkInsert: timed(() => inTransaction(db, () => bulk.forEach((r) => ins.run(...r)))),
      bulkUpdate: timed(() => inTransaction(db, () => bulk.forEach(update))),
      commitInsert: timed(() => commits.forEach((r) => ins.run(...shift(r)))),
      commitUpdate: timed(() => commits.forEach((r) => update(shift(r)))),
    };
  } finally {
    db.close();
  }
}

export const b6: Benchmark = {
  id: "B6",
  title: "capture overhead: app inserts/updates with triggers vs without",
  target: TARGET,
  async run(ctx: BenchContext): Promise<Outcome> {
    const { rows, commitRows, reps } = ctx.sizes.b6;
    const sizes = { rows, commitRows, reps };
    ctx.log(`  sizes: ${formatNumber(rows)} entry inserts then ${formatNumber(rows)} updates (one transaction each), plus ${formatNumber(commitRows)} inserts and updates with one commit each; ${reps} repetitions per arm`);
    const w = scoutingWorkload(ctx.seed, { entries: rows });
    const bulk = [...w.entries()];
    const commits = bulk.slice(0, commitRows);
    const times: Record<"with" | "without", ArmTimes[]> = { with: [], without: [] };
    for (let rep = 0; rep < reps; rep++) {
      for (const arm of rep % 2 === 0 ? (["without", "with"] as const) : (["with", "without"] as const)) {
        const file = path.join(ctx.dir(`b6-${arm}-${rep}`), "app.db");
        await prepare(file, w, arm === "with");
        times[arm].push(runArm(file, bulk, commits, rows));
      }
    }
    const med = (arm: "with" | "without", k: keyof ArmTimes) => median(times[arm].map((t) => t[k]));
    const figure = (arm: "with" | "without") => ({
      bulk_s: round(med(arm, "bulkInsert") + med(arm, "bulkUpdate"), 4),
      bulk_insert_rows_per_s: round(rows / med(arm, "bulkInsert")),
      bulk_update_rows_per_s: round(rows / med(arm, "bulkUpdate")),
      commit_s: round(med(arm, "commitInsert") + med(arm, "commitUpdate"), 4),
      commit_statements_per_s: round((2 * commitRows) / (med(arm, "commitInsert") + med(arm, "commitUpdate"))),
    });
    const withT = figure("with");
    const without = figure("without");
    const ratios = {
      bulk_with_vs_without: ratio(withT.bulk_s, without.bulk_s),
      insert_with_vs_without: ratio(med("with", "bulkInsert"), med("without", "bulkInsert")),
      update_with_vs_without: ratio(med("with", "bulkUpdate"), med("without", "bulkUpdate")),
      per_commit_with_vs_without: ratio(withT.commit_s, without.commit_s),
    };
    ctx.log(`  without triggers (anchor): inserts ${formatNumber(without.bulk_insert_rows_per_s)} rows/s, updates ${formatNumber(without.bulk_update_rows_per_s)} rows/s; one commit each: ${formatNumber(without.commit_statements_per_s)} statements/s`);
    ctx.log(`  with capture triggers:     inserts ${formatNumber(withT.bulk_insert_rows_per_s)} rows/s, updates ${formatNumber(withT.bulk_update_rows_per_s)} rows/s; one commit each: ${formatNumber(withT.commit_statements_per_s)} statements/s`);
    ctx.log(
      `  ratio with ÷ without: in transactions ${formatRatio(ratios.bulk_with_vs_without)} (inserts ${formatRatio(ratios.insert_with_vs_without)}, updates ${formatRatio(ratios.update_with_vs_without)}); one commit per statement ${formatRatio(ratios.per_commit_with_vs_without)}; cr-sqlite pays 2.5×`,
    );
    // Judged on the transaction shape: it is where the triggers' own work is not hidden behind fsync.
    const pass = ratios.bulk_with_vs_without <= 1.5;
    return {
      id: "B6",
      title: b6.title,
      status: "ok",
      sizes,
      figures: { with_triggers: withT },
      anchors: { without_triggers: without },
      ratios,
      target: TARGET,
      pass,
      headline: {
        figure: `${formatNumber(withT.bulk_insert_rows_per_s)} ins/s, ${formatNumber(withT.bulk_update_rows_per_s)} upd/s`,
        anchor: `${formatNumber(without.bulk_insert_rows_per_s)} / ${formatNumber(without.bulk_update_rows_per_s)} without`,
        ratio: `${formatRatio(ratios.bulk_with_vs_without)} (commit each ${formatRatio(ratios.per_commit_with_vs_without)})`,
      },
      notes: ["judged on inserts+updates in one transaction each; the per-commit figure is what a web app writing one row per request pays"],
    };
  },
};
