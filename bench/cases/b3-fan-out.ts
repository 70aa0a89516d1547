/**
 * B3: one row written on site 1 until it is readable on every other site, in a full mesh of
 * 2, 5 and 10 sites (sites are added to the shared pair as the count grows). Anchor: the
 * two-site figure of the same run. The relay variant waits for the relay.
 */
import { latencyFigure, type Benchmark } from "../benchmark.js";
import type { BenchContext } from "../context.js";
import type { Figure, Outcome } from "../outcome.js";
import { rowLatencies } from "../probes.js";
import { waitQuiet, type RunningSite } from "../sites.js";
import os from "node:os";
import { sampleUsage } from "../procstat.js";
import { formatMs, formatRatio, ratio, round } from "../stats.js";
import { waitFor } from "../wait.js";

const TARGET = "p99 ≤ 500 ms mesh, ≤ 1 s relay";
export const RELAY_MISSING = "skipped: relay not built";

/** Starts `count` more sites (a few at a time: each start is CPU-heavy) and links each with every site. */
async function grow(ctx: BenchContext, mesh: RunningSite[], count: number): Promise<void> {
  const fresh: RunningSite[] = [];
  for (let i = 0; i < count; i++) fresh.push(await ctx.prepareSite(`b3-${mesh.length + i + 1}`, { schema: true }));
  for (let i = 0; i < fresh.length; i += 3) await Promise.all(fresh.slice(i, i + 3).map((s) => s.start()));
  for (const s of fresh) {
    for (const other of mesh) {
      await s.addPeer(other);
      await other.addPeer(s);
    }
    mesh.push(s);
  }
  for (const s of fresh) for (const other of fresh) if (s !== other) await s.addPeer(other);
  await waitFor("every site to see all its peers online", async () => (await Promise.all(mesh.map((s) => s.peersOnline()))).every(Boolean), 120_000, 250);
  await waitQuiet(mesh, 300_000);
}

export const b3: Benchmark = {
  id: "B3",
  title: "fan-out: one change reaching all of N sites",
  target: TARGET,
  async run(ctx: BenchContext): Promise<Outcome> {
    const { sites: counts, samples } = ctx.sizes.b3;
    const sorted = [...new Set(counts)].filter((n) => n >= 2).sort((x, y) => x - y);
    const sizes = { sites: sorted, samples, topology: "full mesh" };
    ctx.log(`  sizes: ${sorted.join(", ")} sites in a full mesh, ${samples} one-row samples each (time until the last site has it)`);
    const mesh: RunningSite[] = [...(await ctx.pair())];
    const added: RunningSite[] = [];
    const figures: Record<string, Figure> = {};
    const p99: Record<number, number> = {};
    let lost = 0;
    try {
      for (const n of sorted) {
        if (n > mesh.length) {
          const before = mesh.length;
          ctx.log(`  starting ${n - before} more site${n - before === 1 ? "" : "s"} ...`);
          await grow(ctx, mesh, n - before);
          added.push(...mesh.slice(before));
        }
        // What the mesh costs with nothing to sync (every site ticks every peer): on one machine it is the background of the measurement.
        const idle = await sampleUsage({ mesh: () => mesh.slice(0, n).flatMap((m) => m.pidList()) }, 3);
        const s = await rowLatencies(mesh[0]!, mesh.slice(1, n), { label: `b3-${n}`, samples, seed: ctx.seed });
        const fig = latencyFigure(s);
        lost += s.timeouts;
        figures[`mesh_${n}_sites_ms`] = { ...fig.summary };
        figures[`mesh_${n}_sites_idle_cpu_pct`] = round(idle["mesh"]!.cpuPct, 1);
        p99[n] = fig.summary.p99;
        ctx.log(`  ${n} sites: ${fig.text}; the idle mesh used ${idle["mesh"]!.cpuPct.toFixed(0)} % of one core (of ${os.cpus().length * 100} %) before the samples`);
      }
    } finally {
      // The shared pair goes on to B1, B10 and B5: without the sites added here as dead peers
      // (a full run once measured B1 with eight stopped sites among them).
      ctx.retire(added);
      await Promise.all(mesh.slice(0, 2).flatMap((s) => added.map((x) => s.removePeer(x))));
    }
    const two = p99[2] ?? Number.NaN;
    const ratios: Record<string, number> = {};
    for (const n of sorted) if (n !== 2) ratios[`p99_${n}_vs_2_sites`] = ratio(p99[n]!, two);
    ctx.log(`  anchor: the two-site p99 of this run, ${formatMs(two)}; ratios: ${Object.entries(ratios).map(([k, v]) => `${k} ${formatRatio(v)}`).join(", ") || "n/a"}`);
    ctx.log(`  relay: ${RELAY_MISSING}`);
    const largest = sorted.at(-1)!;
    const pass = lost === 0 && sorted.every((n) => (p99[n] ?? Infinity) <= 500);
    return {
      id: "B3",
      title: b3.title,
      status: "ok",
      sizes,
      figures: { ...figures, relay: RELAY_MISSING },
      anchors: { two_sites_p99_ms: two },
      ratios,
      target: TARGET,
      pass,
      headline: {
        figure: sorted.map((n) => `${n}: p99 ${formatMs(p99[n]!)}`).join(", "),
        anchor: `2 sites p99 ${formatMs(two)}`,
        ratio: formatRatio(ratios[`p99_${largest}_vs_2_sites`] ?? Number.NaN),
      },
      notes: [`relay: ${RELAY_MISSING}; judged on the mesh only`],
    };
  },
};
