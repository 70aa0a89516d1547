/**
 * B9: does one change cost more in a big database? The B2 measurement (one row, commit in A →
 * readable in B) on a pair whose database holds a million entries, against a pair with a
 * thousand. Both pairs are brought in sync by initial sync first (its rate is reported too).
 */
import { latencyFigure, type Benchmark } from "../benchmark.js";
import type { BenchContext } from "../context.js";
import type { Outcome } from "../outcome.js";
import { rowLatencies } from "../probes.js";
import { formatMs, formatNumber, formatRatio, ratio, round } from "../stats.js";
import { waitQuiet } from "../sites.js";
import { scoutingWorkload } from "../workload-db.js";
import { timeInitialSync, waitCaptured } from "./b4-bulk-rows.js";

const TARGET = "p50 ratio (big ÷ small) ≤ 1.5";

async function measure(ctx: BenchContext, label: string, entries: number, samples: number) {
  const w = scoutingWorkload(ctx.seed, { entries });
  const tPrep = performance.now();
  const a = await ctx.prepareSite(`${label}-a`, { schema: true, workload: w });
  const b = await ctx.prepareSite(`${label}-b`, { schema: true });
  const prepS = (performance.now() - tPrep) / 1000;
  await Promise.all([a.start(), b.start()]);
  const captureS = await waitCaptured(a, w.total, 1_800_000);
  const sync = await timeInitialSync(a, b, entries, 3_600_000);
  // B forwards what it received, so A pulls it all back (applied as unchanged) after B has it: measure after that.
  const quietS = await waitQuiet([a, b], 1_800_000);
  ctx.log(
    `  ${label}: ${formatNumber(w.total)} rows (app wrote them in ${prepS.toFixed(1)} s; A captured them ${captureS.toFixed(1)} s after start; initial sync to B ${sync.seconds.toFixed(1)} s = ${formatNumber(w.total / sync.seconds)} rows/s; the pair was quiet ${quietS.toFixed(1)} s later)`,
  );
  const s = await rowLatencies(a, [b], { label, samples, seed: ctx.seed });
  const fig = latencyFigure(s);
  ctx.log(`  ${label}: one new row A → B: ${fig.text}`);
  ctx.retire([a, b]);
  return { rows: w.total, fig, captureS, syncS: sync.seconds, quietS };
}

export const b9: Benchmark = {
  id: "B9",
  title: "one change in a big database vs in a small one",
  target: TARGET,
  async run(ctx: BenchContext): Promise<Outcome> {
    const { bigRows, smallRows, samples } = ctx.sizes.b9;
    const sizes = { big_entries: bigRows, small_entries: smallRows, samples };
    ctx.log(`  sizes: ${formatNumber(bigRows)} entries vs ${formatNumber(smallRows)} entries (plus their matches, teams, pit notes), ${samples} one-row samples each`);
    const small = await measure(ctx, "small", smallRows, samples);
    const big = await measure(ctx, "big", bigRows, samples);
    const ratios = { p50_big_vs_small: ratio(big.fig.summary.p50, small.fig.summary.p50), p99_big_vs_small: ratio(big.fig.summary.p99, small.fig.summary.p99) };
    ctx.log(`  ratio big ÷ small: p50 ${formatRatio(ratios.p50_big_vs_small)}, p99 ${formatRatio(ratios.p99_big_vs_small)}`);
    return {
      id: "B9",
      title: b9.title,
      status: "ok",
      sizes: { ...sizes, big_rows: big.rows, small_rows: small.rows },
      figures: { big_latency_ms: { ...big.fig.summary }, big_initial_sync_s: round(big.syncS, 2), big_initial_sync_rows_per_s: round(big.rows / big.syncS), big_capture_existing_s: round(big.captureS, 2), big_quiet_after_sync_s: round(big.quietS, 2) },
      anchors: { small_latency_ms: { ...small.fig.summary } },
      ratios,
      target: TARGET,
      pass: big.fig.summary.timeouts === 0 && ratios.p50_big_vs_small <= 1.5,
      headline: {
        figure: `p50 ${formatMs(big.fig.summary.p50)} at ${formatNumber(big.rows)} rows`,
        anchor: `p50 ${formatMs(small.fig.summary.p50)} at ${formatNumber(small.rows)}`,
        ratio: `${formatRatio(ratios.p50_big_vs_small)} (p99 ${formatRatio(ratios.p99_big_vs_small)})`,
      },
      notes: [],
    };
  },
};
