/**
 * B10: both sites edit the same file at the same moment. Settled means: on both sites the path
 * holds the same one of the two versions, and a `.sync-conflict-` copy beside it holds the other.
 * Anchor: Syncthing with fsWatcherDelayS=1 (at its default 10 s it would mostly measure the delay).
 */
import { readdirSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { latencyFigure, type Benchmark } from "../benchmark.js";
import { FILE_SYNC_MISSING, readOr, type BenchContext } from "../context.js";
import { skipped, type Figure, type Outcome } from "../outcome.js";
import type { Samples } from "../probes.js";
import { formatMs, formatRatio, ratio } from "../stats.js";
import { SYNCTHING_MISSING } from "../syncthing.js";
import { latencyUntil, sleep, waitFor } from "../wait.js";

const TARGET = "≤ 500 ms (p50), every sample settled";
const NAME = "scores.json";
const CONFLICT = /^scores\.sync-conflict-.+\.json$/;

/** Whether one folder shows the settled state: `winner` at the path, `loser` in a conflict copy. */
function settledIn(dir: string, winner: string, loser: string): boolean {
  if (readOr(path.join(dir, NAME)) !== winner) return false;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return false;
  }
  return names.some((n) => CONFLICT.test(n) && readOr(path.join(dir, n)) === loser);
}

export async function conflictLatencies(a: string, b: string, samples: number, label: string, timeoutMs: number): Promise<Samples> {
  const out: Samples = { ms: [], timeouts: 0 };
  for (let i = 0; i < samples; i++) {
    const sub = path.join("bench-b10", `${label}-${i}-${process.pid}`);
    const [da, db] = [path.join(a, sub), path.join(b, sub)];
    mkdirSync(da, { recursive: true });
    const base = JSON.stringify({ sample: i, version: "base" });
    writeFileSync(path.join(da, NAME), base);
    await waitFor(`the base version of sample ${i} to reach the other side`, () => readOr(path.join(db, NAME)) === base, timeoutMs, 5);
    await sleep(300);
    const va = JSON.stringify({ sample: i, version: "edited on A", scores: [1, 2, 3] });
    const vb = JSON.stringify({ sample: i, version: "edited on B", scores: [4, 5, 6, 7, 8] });
    const t0 = performance.now();
    writeFileSync(path.join(da, NAME), va);
    writeFileSync(path.join(db, NAME), vb);
    const settled = () => (settledIn(da, va, vb) && settledIn(db, va, vb)) || (settledIn(da, vb, va) && settledIn(db, vb, va));
    const took = await latencyUntil(t0, settled, timeoutMs, 2);
    if (took === null) out.timeouts++;
    else out.ms.push(took);
    await sleep(200);
  }
  return out;
}

export const b10: Benchmark = {
  id: "B10",
  title: "edit-edit conflict on one file, settled on both sites",
  target: TARGET,
  async run(ctx: BenchContext): Promise<Outcome> {
    const { samples, syncthingSamples } = ctx.sizes.b10;
    const sizes = { samples, syncthing_samples: syncthingSamples };
    ctx.log(`  sizes: ${samples} conflicts (Syncthing: ${syncthingSamples}, fsWatcherDelayS=1)`);
    if (!(await ctx.fileSyncAvailable())) return skipped("B10", b10.title, TARGET, FILE_SYNC_MISSING, sizes);
    const [a, b] = await ctx.pair();
    const s = await conflictLatencies(a.instance, b.instance, samples, "scoutsync", 20_000);
    const fig = latencyFigure(s);
    ctx.log(`  scoutsync: ${fig.text}`);
    const anchors: Record<string, Figure> = {};
    const ratios: Record<string, number> = {};
    let anchorText = SYNCTHING_MISSING;
    const st = await ctx.syncthing();
    if (st === null) ctx.log(`  anchor: Syncthing ${SYNCTHING_MISSING}`);
    else if (syncthingSamples > 0) {
      await st.setDelay(1);
      const r = await conflictLatencies(st.a.folder, st.b.folder, syncthingSamples, "syncthing", 60_000);
      const f = latencyFigure(r);
      anchors["syncthing_delay_1s_ms"] = { ...f.summary };
      ratios["p50_vs_syncthing"] = ratio(fig.summary.p50, f.summary.p50);
      anchorText = `ST(1s) ${formatMs(f.summary.p50)}`;
      ctx.log(`  anchor: Syncthing, fsWatcherDelayS=1: ${f.text}; ratio p50 ${formatRatio(ratios["p50_vs_syncthing"]!)}`);
    }
    return {
      id: "B10",
      title: b10.title,
      status: "ok",
      sizes,
      figures: { settle_ms: { ...fig.summary } },
      anchors,
      ratios,
      target: TARGET,
      pass: fig.summary.timeouts === 0 && fig.summary.n > 0 && fig.summary.p50 <= 500,
      headline: { figure: `p50 ${formatMs(fig.summary.p50)} / max ${formatMs(fig.summary.max)}${s.timeouts ? ` (${s.timeouts} unsettled)` : ""}`, anchor: anchorText, ratio: formatRatio(ratios["p50_vs_syncthing"] ?? Number.NaN) },
      notes: [],
    };
  },
};
