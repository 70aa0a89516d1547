/**
 * B7: what a synced, idle site costs. Two sites hold the same instance folder (configs, images,
 * one recording) and database, fully synced; then nothing happens for the sampling window and
 * each site's processes (launcher, db, worker, workerd, agent) are measured from /proc. Anchor:
 * the Syncthing pair holding the same folder, measured in the same window.
 */
import { statSync } from "node:fs";
import path from "node:path";
import type { Benchmark } from "../benchmark.js";
import type { BenchContext } from "../context.js";
import { count, fingerprint, fingerprintOf, openReader } from "../db.js";
import type { Figure, Outcome } from "../outcome.js";
import { sampleUsage, type Usage } from "../procstat.js";
import { formatNumber, formatRatio, ratio, round } from "../stats.js";
import { SYNCTHING_MISSING } from "../syncthing.js";
import { sleep, waitFor, waitPolite } from "../wait.js";
import { scoutingWorkload } from "../workload-db.js";
import { instanceFolder, totalBytes, writeFolder, type FileSpec } from "../workload-files.js";
import { waitQuiet } from "../sites.js";
import { waitCaptured } from "./b4-bulk-rows.js";

const TARGET = "≤ 0.5 % of a core and ≤ 300 MiB (PSS) per site";

function totalRows(file: string): number {
  const db = openReader(file);
  try {
    return ["teams", "matches", "entries", "pit_notes"].reduce((n, t) => n + count(db, t), 0);
  } finally {
    db.close();
  }
}

function allThere(root: string, specs: readonly FileSpec[]): () => boolean {
  const pending = new Set(specs);
  return () => {
    for (const f of pending) {
      try {
        if (statSync(path.join(root, ...f.path.split("/"))).size === f.size) pending.delete(f);
      } catch {
        // Not yet.
      }
    }
    return pending.size === 0;
  };
}

function usageFigure(u: Usage): Record<string, Figure> {
  return {
    cpu_pct_of_core: round(u.cpuPct, 3),
    rss_mean_mib: round(u.rssMeanMiB, 1),
    rss_max_mib: round(u.rssMaxMiB, 1),
    pss_mean_mib: round(u.pssMeanMiB, 1),
    pss_max_mib: round(u.pssMaxMiB, 1),
    processes: u.processes,
    seconds: u.seconds,
  };
}

export const b7: Benchmark = {
  id: "B7",
  title: "idle cost of a synced site: CPU and memory",
  target: TARGET,
  async run(ctx: BenchContext): Promise<Outcome> {
    const { files, rows, seconds } = ctx.sizes.b7;
    const withFiles = await ctx.fileSyncAvailable();
    const largeMiB = ctx.args.quick ? 8 : 64;
    const specs = withFiles ? instanceFolder(`${ctx.seed}/b7`, { configs: Math.round(files * 0.8), images: files - Math.round(files * 0.8) - 1, largeMiB }) : [];
    let pair = ctx.takeSynced();
    const reused = pair !== null;
    const t0 = performance.now();
    if (pair === null) {
      const w = scoutingWorkload(ctx.seed, { entries: rows });
      const a = await ctx.prepareSite("b7-a", { schema: true, workload: w });
      if (withFiles) writeFolder(a.instance, `${ctx.seed}/b7`, specs);
      const b = await ctx.prepareSite("b7-b", { schema: true });
      await Promise.all([a.start(), b.start()]);
      await waitCaptured(a, w.total, 600_000);
      await a.addPeer(b);
      await b.addPeer(a);
      pair = { a, b, workload: w };
    } else {
      // B8 left the two in sync; the app adds the folder while they run.
      if (withFiles) writeFolder(pair.a.instance, `${ctx.seed}/b7`, specs);
    }
    const { a, b } = pair;
    const heldRows = totalRows(a.db);
    const sizes = { files: specs.length, file_bytes: totalBytes(specs), rows: heldRows, seconds, reused_pair: reused };
    ctx.log(
      `  sizes: ${formatNumber(specs.length)} files (${formatNumber(totalBytes(specs) / 1024 / 1024, 1)} MiB: configs, images, one ${largeMiB} MiB recording) + ${formatNumber(heldRows)} rows; ${seconds} s window` +
        (withFiles ? "" : " — file sync not available: rows only, no files") +
        (sizes.reused_pair ? " (the pair B8 left, still running)" : ""),
    );
    const want = fingerprintOf(a.db);
    const reader = openReader(b.db);
    const filesThere = allThere(b.instance, specs);
    try {
      await waitPolite("site B to hold all rows and files", () => fingerprint(reader) === want && filesThere(), 1_800_000, 100);
    } finally {
      reader.close();
    }
    ctx.log(`  the two sites are in sync (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

    const st = await ctx.syncthing();
    if (st !== null && withFiles) {
      const sub = `bench-b7-${process.pid}`;
      writeFolder(path.join(st.a.folder, sub), `${ctx.seed}/b7`, specs);
      await waitFor("Syncthing B to hold the folder", allThere(path.join(st.b.folder, sub), specs), 1_800_000, 200);
      await st.waitIdle(600_000);
      ctx.log(`  the Syncthing pair holds the same folder (fsWatcherDelayS=${st.delayS})`);
    }
    await waitQuiet([a, b], 1_800_000);
    // Let the last pushes, scans and GCs finish before the window opens.
    await sleep(ctx.args.quick ? 2000 : 5000);
    const groups: Record<string, () => number[]> = { "site A": () => a.pidList(), "site B": () => b.pidList() };
    if (st !== null) {
      groups["syncthing A"] = () => st.pids(st.a);
      groups["syncthing B"] = () => st.pids(st.b);
    }
    const usage = await sampleUsage(groups, seconds);
    for (const [name, u] of Object.entries(usage)) {
      ctx.log(`  ${name.padEnd(11)}: CPU ${u.cpuPct.toFixed(2)} % of a core; RSS ${u.rssMeanMiB.toFixed(0)} MiB (max ${u.rssMaxMiB.toFixed(0)}); PSS ${u.pssMeanMiB.toFixed(0)} MiB (max ${u.pssMaxMiB.toFixed(0)}); ${u.processes} processes`);
    }
    ctx.retire([a, b]);

    const ua = usage["site A"]!;
    const ub = usage["site B"]!;
    const sa = usage["syncthing A"];
    const sb = usage["syncthing B"];
    const worstCpu = Math.max(ua.cpuPct, ub.cpuPct);
    const worstPss = Math.max(ua.pssMaxMiB, ub.pssMaxMiB);
    const ratios: Record<string, number> = {};
    // Per instance, averaged over both sides: a 10 ms CPU tick on one Syncthing would otherwise decide the ratio.
    const mean = (f: (u: Usage) => number, x: Usage, y: Usage) => (f(x) + f(y)) / 2;
    if (sa && sb) {
      ratios["cpu_site_vs_syncthing"] = ratio(mean((u) => u.cpuPct, ua, ub), mean((u) => u.cpuPct, sa, sb));
      ratios["pss_site_vs_syncthing"] = ratio(mean((u) => u.pssMeanMiB, ua, ub), mean((u) => u.pssMeanMiB, sa, sb));
      ratios["rss_site_vs_syncthing"] = ratio(mean((u) => u.rssMeanMiB, ua, ub), mean((u) => u.rssMeanMiB, sa, sb));
      ctx.log(`  ratio site ÷ Syncthing instance (mean of both sides): CPU ${formatRatio(ratios["cpu_site_vs_syncthing"]!)}, PSS ${formatRatio(ratios["pss_site_vs_syncthing"]!)}, RSS ${formatRatio(ratios["rss_site_vs_syncthing"]!)}`);
    } else ctx.log(`  anchor: Syncthing ${st === null ? SYNCTHING_MISSING : "not measured (no files to hold)"}`);
    const anchors: Record<string, Figure> = {};
    if (usage["syncthing A"]) anchors["syncthing_a"] = usageFigure(usage["syncthing A"]);
    if (usage["syncthing B"]) anchors["syncthing_b"] = usageFigure(usage["syncthing B"]);
    return {
      id: "B7",
      title: b7.title,
      status: "ok",
      sizes,
      figures: { site_a: usageFigure(ua), site_b: usageFigure(ub) },
      anchors,
      ratios,
      target: TARGET,
      pass: worstCpu <= 0.5 && worstPss <= 300,
      headline: {
        figure: `CPU ${worstCpu.toFixed(2)} %, PSS ${worstPss.toFixed(0)} MiB (RSS ${Math.max(ua.rssMaxMiB, ub.rssMaxMiB).toFixed(0)})`,
        anchor: sa && sb ? `ST ${mean((u) => u.cpuPct, sa, sb).toFixed(2)} %, PSS ${mean((u) => u.pssMeanMiB, sa, sb).toFixed(0)} MiB` : st === null ? SYNCTHING_MISSING : "n/a",
        ratio: sa && sb ? `CPU ${formatRatio(ratios["cpu_site_vs_syncthing"]!)}, PSS ${formatRatio(ratios["pss_site_vs_syncthing"]!)}` : "n/a",
      },
      notes: [
        "CPU % is of one core over the window; memory sums the site's processes (launcher, db, worker, workerd, agent and their children); judged on PSS, which splits pages the processes share",
        ...(withFiles ? [] : ["file sync was not available: the sites held rows only"]),
      ],
    };
  },
};
