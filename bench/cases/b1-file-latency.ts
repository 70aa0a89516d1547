/**
 * B1: a 1 KiB file written into A's instance folder until B's folder holds the same bytes.
 * Anchor: Syncthing on loopback with its default watcher delay (10 s) and with fsWatcherDelayS=1.
 */
import { latencyFigure, meetsLatency, type Benchmark } from "../benchmark.js";
import { FILE_SYNC_MISSING, type BenchContext } from "../context.js";
import { skipped, type Figure, type Outcome } from "../outcome.js";
import { fileLatencies } from "../probes.js";
import { formatMs, formatRatio, ratio } from "../stats.js";
import { SYNCTHING_MISSING } from "../syncthing.js";

const TARGET = "p50 ≤ 50 ms, p99 ≤ 150 ms";

export const b1: Benchmark = {
  id: "B1",
  title: "file latency: 1 KiB written in A's folder → same bytes in B's",
  target: TARGET,
  async run(ctx: BenchContext): Promise<Outcome> {
    const { samples, bytes, syncthingSamples, syncthingDefaultSamples } = ctx.sizes.b1;
    const sizes = { samples, bytes, syncthing_samples_delay_1s: syncthingSamples, syncthing_samples_default_delay: syncthingDefaultSamples };
    ctx.log(`  sizes: ${samples} files of ${bytes} B; Syncthing ${syncthingDefaultSamples} samples at its default delay, ${syncthingSamples} at fsWatcherDelayS=1`);
    if (!(await ctx.fileSyncAvailable())) return skipped("B1", b1.title, TARGET, FILE_SYNC_MISSING, sizes);
    const [a, b] = await ctx.pair();
    const s = await fileLatencies(a.instance, [b.instance], { label: "b1", samples, bytes, subdir: "bench-b1", seed: ctx.seed });
    const fig = latencyFigure(s);
    ctx.log(`  scoutsync A → B: ${fig.text}`);

    const anchors: Record<string, Figure> = {};
    const ratios: Record<string, number> = {};
    let anchorText = SYNCTHING_MISSING;
    let ratioText = "n/a";
    const st = await ctx.syncthing();
    if (st === null) {
      ctx.log(`  anchor: Syncthing ${SYNCTHING_MISSING}`);
    } else {
      for (const [delay, n, key] of [
        [10, syncthingDefaultSamples, "default_delay"],
        [1, syncthingSamples, "delay_1s"],
      ] as const) {
        if (n === 0) continue;
        await st.setDelay(delay);
        const r = await fileLatencies(st.a.folder, [st.b.folder], { label: `b1-st-${key}`, samples: n, bytes, subdir: "bench-b1", seed: ctx.seed, timeoutMs: 60_000, warmup: 1 });
        const f = latencyFigure(r);
        anchors[`syncthing_${key}_ms`] = { ...f.summary };
        ratios[`p50_vs_syncthing_${key}`] = ratio(fig.summary.p50, f.summary.p50);
        ctx.log(`  anchor: Syncthing, fsWatcherDelayS=${delay}${delay === 10 ? " (default)" : ""}: ${f.text}; ratio p50 ${formatRatio(ratios[`p50_vs_syncthing_${key}`]!)}`);
      }
      const d = anchors["syncthing_default_delay_ms"] as { p50: number } | undefined;
      const one = anchors["syncthing_delay_1s_ms"] as { p50: number } | undefined;
      anchorText = [d ? `ST ${formatMs(d.p50)}` : "", one ? `ST(1s) ${formatMs(one.p50)}` : ""].filter(Boolean).join(" / ");
      ratioText = [ratios["p50_vs_syncthing_default_delay"], ratios["p50_vs_syncthing_delay_1s"]].filter((x) => x !== undefined).map((x) => formatRatio(x!)).join(" / ");
    }
    return {
      id: "B1",
      title: b1.title,
      status: "ok",
      sizes,
      figures: { latency_ms: { ...fig.summary } },
      anchors,
      ratios,
      target: TARGET,
      pass: meetsLatency(fig.summary, 50, 150),
      headline: { figure: `p50 ${formatMs(fig.summary.p50)} / p99 ${formatMs(fig.summary.p99)}${s.timeouts ? ` (${s.timeouts} lost)` : ""}`, anchor: anchorText, ratio: ratioText },
      notes: [],
    };
  },
};
