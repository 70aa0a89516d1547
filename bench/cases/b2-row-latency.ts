/**
 * B2: a row committed in A's app.db by another process, until B's app.db can read it.
 * Anchor: a raw HTTP round trip on loopback (the floor under any "A tells B").
 */
import { httpRoundTrips } from "../anchors.js";
import { latencyFigure, meetsLatency, type Benchmark } from "../benchmark.js";
import type { BenchContext } from "../context.js";
import type { Outcome } from "../outcome.js";
import { rowLatencies } from "../probes.js";
import { formatMs, formatRatio, latency, ratio, round } from "../stats.js";

const TARGET = "p50 ≤ 50 ms, p99 ≤ 150 ms";

export const b2: Benchmark = {
  id: "B2",
  title: "row latency: commit in A's app.db → readable in B's app.db",
  target: TARGET,
  async run(ctx: BenchContext): Promise<Outcome> {
    const { samples, anchorSamples } = ctx.sizes.b2;
    const sizes = { samples, anchorSamples, sites: 2 };
    ctx.log(`  sizes: ${samples} single-row inserts (autocommit, as an app writes), anchor ${anchorSamples} loopback round trips`);
    const anchor = latency(await httpRoundTrips(anchorSamples));
    ctx.log(`  anchor: raw loopback HTTP round trip (Node http, kept-alive): p50 ${formatMs(anchor.p50)}, p90 ${formatMs(anchor.p90)}, p99 ${formatMs(anchor.p99)}`);
    const [a, b] = await ctx.pair();
    const s = await rowLatencies(a, [b], { label: "b2", samples, seed: ctx.seed });
    const fig = latencyFigure(s);
    ctx.log(`  scoutsync A → B: ${fig.text}`);
    const ratios = { p50_vs_round_trip: ratio(fig.summary.p50, anchor.p50), p99_vs_round_trip: ratio(fig.summary.p99, anchor.p99) };
    ctx.log(`  ratio to the round trip: p50 ${formatRatio(ratios.p50_vs_round_trip)}, p99 ${formatRatio(ratios.p99_vs_round_trip)}`);
    const pass = meetsLatency(fig.summary, 50, 150);
    return {
      id: "B2",
      title: b2.title,
      status: "ok",
      sizes,
      figures: { latency_ms: { ...fig.summary } },
      anchors: { http_round_trip_ms: { ...anchor } },
      ratios,
      target: TARGET,
      pass,
      headline: {
        figure: `p50 ${formatMs(fig.summary.p50)} / p99 ${formatMs(fig.summary.p99)}${s.timeouts ? ` (${s.timeouts} lost)` : ""}`,
        anchor: `RTT p50 ${formatMs(round(anchor.p50, 3))}`,
        ratio: formatRatio(ratios.p50_vs_round_trip),
      },
      notes: [],
    };
  },
};
