/**
 * B8: catch-up. B is stopped; the app on A makes a run of changes (60 % inserts, 30 % updates,
 * 10 % deletes, 100 per transaction); B starts again and the clock runs until its app.db has A's
 * content. Anchor: the same change script applied by a plain `libsql` connection to a database
 * holding the same baseline (one transaction): the local work an ideal catch-up would do.
 */
import path from "node:path";
import type { Benchmark } from "../benchmark.js";
import type { BenchContext } from "../context.js";
import { applyScript, createSchema, fingerprint, fingerprintOf, insertWorkload, openReader, openWriter } from "../db.js";
import type { Outcome } from "../outcome.js";
import { waitQuiet, type RunningSite } from "../sites.js";
import { formatNumber, formatRatio, ratio, round } from "../stats.js";
import { sleep, waitFor, waitPolite } from "../wait.js";
import { changeScript, scoutingWorkload } from "../workload-db.js";
import { timeInitialSync, waitCaptured } from "./b4-bulk-rows.js";

const TARGET = "≤ 5 s from B being up";

/** Waits until a site's sequence stops moving (its capture has drained the app's writes). */
export async function waitSeqSettled(site: RunningSite, timeoutMs: number): Promise<number> {
  let last = -1;
  let same = 0;
  return waitFor(
    `site ${site.name}'s capture to settle`,
    async () => {
      const seq = await site.seq();
      same = seq === last ? same + 1 : 0;
      last = seq;
      return same >= 2 ? seq : undefined;
    },
    timeoutMs,
    300,
  );
}

export const b8: Benchmark = {
  id: "B8",
  title: "catch-up: a site offline while changes happen elsewhere",
  target: TARGET,
  async run(ctx: BenchContext): Promise<Outcome> {
    const { changes, baseline } = ctx.sizes.b8;
    const w = scoutingWorkload(ctx.seed, { entries: baseline });
    const teamNumbers = w.teams.map((t) => Number(t[1]));
    const script = changeScript(ctx.seed, changes, baseline, teamNumbers);
    const mix = { insert: 0, update: 0, delete: 0 };
    for (const c of script) mix[c.kind]++;
    const sizes = { changes, baseline_entries: baseline, baseline_rows: w.total, ...mix, per_transaction: 100 };
    ctx.log(`  sizes: ${formatNumber(changes)} changes (${formatNumber(mix.insert)} inserts, ${formatNumber(mix.update)} updates, ${formatNumber(mix.delete)} deletes; 100 per transaction) on a ${formatNumber(w.total)}-row database`);

    // Anchor: the same script, plain libsql, on the same baseline: in one transaction (what a
    // catch-up could do), and as the app runs it (100 per transaction) without scoutsync.
    const plainRun = (label: string, perTransaction: number): number => {
      const plain = openWriter(path.join(ctx.dir(label), "plain.db"));
      try {
        createSchema(plain);
        insertWorkload(plain, w);
        const t0 = performance.now();
        applyScript(plain, script, perTransaction);
        return (performance.now() - t0) / 1000;
      } finally {
        plain.close();
      }
    };
    const plainS = plainRun("b8-plain", script.length);
    const plainAppS = plainRun("b8-plain-app", 100);
    ctx.log(`  anchor: plain libsql applies the same ${formatNumber(changes)} changes in ${plainS.toFixed(3)} s (${formatNumber(changes / plainS)} changes/s); as the app writes them, 100 per transaction, ${plainAppS.toFixed(3)} s`);

    let pair = ctx.takeSynced();
    if (pair !== null && pair.workload.counts.entries !== baseline) {
      ctx.retire([pair.a, pair.b]);
      pair = null;
    }
    if (pair === null) {
      const a = await ctx.prepareSite("b8-a", { schema: true, workload: w });
      const b = await ctx.prepareSite("b8-b", { schema: true });
      await Promise.all([a.start(), b.start()]);
      await waitCaptured(a, w.total, 600_000);
      await timeInitialSync(a, b, baseline, 1_800_000);
      await waitQuiet([a, b], 1_800_000);
      pair = { a, b, workload: w };
    } else ctx.log("  (starting from the pair B4 left in sync)");
    const { a, b } = pair;
    await b.stop();
    ctx.log(`  B holds the baseline and is stopped; A's app makes the changes ...`);

    const writer = openWriter(a.db);
    const tw = performance.now();
    try {
      applyScript(writer, script, 100);
    } finally {
      writer.close();
    }
    const writeS = (performance.now() - tw) / 1000;
    await waitSeqSettled(a, 300_000);
    const captureS = (performance.now() - tw) / 1000;
    const want = fingerprintOf(a.db);
    ctx.log(`  A's app wrote them in ${writeS.toFixed(2)} s; A had captured them all ${captureS.toFixed(2)} s after the first write`);
    await sleep(500);

    const tSpawn = performance.now();
    await b.start();
    const tUp = performance.now();
    const reader = openReader(b.db);
    let tDone: number;
    try {
      tDone = await waitPolite("B to catch up with A", () => fingerprint(reader) === want, 600_000);
    } finally {
      reader.close();
    }
    const fromUp = (tDone - tUp) / 1000;
    const fromSpawn = (tDone - tSpawn) / 1000;
    const rate = changes / fromUp;
    ctx.log(`  scoutsync: B caught up ${fromUp.toFixed(2)} s after it was up (${fromSpawn.toFixed(2)} s after \`scoutsync start\`, of which ${((tUp - tSpawn) / 1000).toFixed(2)} s starting) = ${formatNumber(rate)} changes/s`);
    // The app's own writes on A compete with A's capture for the write lock: worth seeing beside the anchor.
    const ratios = { catch_up_vs_plain_apply: ratio(fromUp, plainS), app_write_on_site_vs_plain: ratio(writeS, plainAppS) };
    ctx.log(
      `  ratio catch-up time ÷ plain apply time: ${formatRatio(ratios.catch_up_vs_plain_apply)}; the app's own writes on running site A took ${formatRatio(ratios.app_write_on_site_vs_plain)} their time without scoutsync`,
    );
    ctx.handOn("B8", pair, ["B7"]);
    return {
      id: "B8",
      title: b8.title,
      status: "ok",
      sizes,
      figures: {
        catch_up_s: round(fromUp, 3),
        catch_up_from_start_command_s: round(fromSpawn, 3),
        site_start_s: round((tUp - tSpawn) / 1000, 3),
        changes_per_s: round(rate),
        app_write_s: round(writeS, 3),
        a_capture_s: round(captureS, 3),
      },
      anchors: { plain_apply_s: round(plainS, 4), plain_changes_per_s: round(changes / plainS), plain_app_write_s: round(plainAppS, 4) },
      ratios,
      target: TARGET,
      pass: fromUp <= 5,
      headline: { figure: `${fromUp.toFixed(2)} s (${formatNumber(rate)}/s)`, anchor: `${plainS.toFixed(2)} s plain apply`, ratio: formatRatio(ratios.catch_up_vs_plain_apply) },
      notes: ["time from the restarted site's \"is up\" line until its app.db matches A's (count and content fingerprint of every table)"],
    };
  },
};
