/**
 * B5: bulk files. Three sets, each generated outside the clock in a staging folder on the same
 * disk, then moved into A's folder by renames (an app saving files atomically; the move itself
 * takes milliseconds) and timed until B's folder holds every file at full size; contents are
 * checked by SHA-256 afterwards. Anchors: `cp -r` of the same set, and Syncthing with
 * fsWatcherDelayS=1 (its default 10 s delay would dominate these timings).
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { cpR } from "../anchors.js";
import type { Benchmark } from "../benchmark.js";
import { FILE_SYNC_MISSING, type BenchContext } from "../context.js";
import { skipped, type Figure, type Outcome } from "../outcome.js";
import { formatNumber, formatRatio, ratio, round } from "../stats.js";
import { SYNCTHING_MISSING } from "../syncthing.js";
import { waitPolite } from "../wait.js";
import { binaryFiles, totalBytes, writeFolder, type FileSpec } from "../workload-files.js";

const TARGET = "MB/s ≥ 1.5× Syncthing; small files ≥ 1,000 files/s";
const MIB = 1024 * 1024;

/** Moves the staged files into `from/sub` and resolves with the seconds until `to/sub` has them all at full size. */
async function transfer(stage: string, specs: readonly FileSpec[], from: string, to: string, sub: string, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  for (const f of specs) {
    const dest = path.join(from, sub, ...f.path.split("/"));
    mkdirSync(path.dirname(dest), { recursive: true });
    renameSync(path.join(stage, ...f.path.split("/")), dest);
  }
  const pending = new Set(specs);
  const done = await waitPolite(
    `${specs.length} files to arrive in ${to}`,
    () => {
      for (const f of pending) {
        try {
          if (statSync(path.join(to, sub, ...f.path.split("/"))).size === f.size) pending.delete(f);
        } catch {
          // Not there yet.
        }
      }
      return pending.size === 0;
    },
    timeoutMs,
    2,
  );
  return (done - t0) / 1000;
}

function verify(root: string, sub: string, hashes: Map<string, string>): number {
  let bad = 0;
  for (const [rel, hash] of hashes) {
    const got = createHash("sha256").update(readFileSync(path.join(root, sub, ...rel.split("/")))).digest("hex");
    if (got !== hash) bad++;
  }
  return bad;
}

interface SetResult {
  files: number;
  bytes: number;
  cpS: number;
  scoutsyncS: number;
  syncthingS: number | null;
}

export const b5: Benchmark = {
  id: "B5",
  title: "bulk files: many 1 MiB files, one large file, a burst of small files",
  target: TARGET,
  async run(ctx: BenchContext): Promise<Outcome> {
    const { mibFiles, bigMiB, smallFiles } = ctx.sizes.b5;
    const sizes = { mib_files: mibFiles, big_file_mib: bigMiB, small_files: smallFiles, small_file_bytes: 1024 };
    ctx.log(`  sizes: ${mibFiles} × 1 MiB; one ${bigMiB} MiB file; ${formatNumber(smallFiles)} files of 1 KiB (Syncthing at fsWatcherDelayS=1)`);
    if (!(await ctx.fileSyncAvailable())) return skipped("B5", b5.title, TARGET, FILE_SYNC_MISSING, sizes);
    const [a, b] = await ctx.pair();
    const st = await ctx.syncthing();
    if (st === null) ctx.log(`  anchor: Syncthing ${SYNCTHING_MISSING}`);
    else await st.setDelay(1);

    const sets: Record<string, FileSpec[]> = {
      mib: binaryFiles("mib", mibFiles, MIB),
      big: binaryFiles("big", 1, bigMiB * MIB),
      small: binaryFiles("small", smallFiles, 1024, "json"),
    };
    const results: Record<string, SetResult> = {};
    let corrupt = 0;
    for (const [name, specs] of Object.entries(sets)) {
      const stage = ctx.dir(`b5-${name}`);
      const hashes = writeFolder(path.join(stage, "s"), `${ctx.seed}/b5`, specs);
      const cpS = cpR(path.join(stage, "s"), path.join(stage, "cp"));
      const sub = `bench-b5-${process.pid}`;
      const scoutsyncS = await transfer(path.join(stage, "s"), specs, a.instance, b.instance, sub, 900_000);
      corrupt += verify(b.instance, sub, hashes);
      let syncthingS: number | null = null;
      if (st !== null) {
        syncthingS = await transfer(path.join(stage, "cp"), specs, st.a.folder, st.b.folder, sub, 900_000);
        corrupt += verify(st.b.folder, sub, hashes);
      }
      rmSync(stage, { recursive: true, force: true });
      results[name] = { files: specs.length, bytes: totalBytes(specs), cpS, scoutsyncS, syncthingS };
      const mbps = (s: number | null) => (s === null ? "n/a" : `${formatNumber(totalBytes(specs) / s / 1e6, 1)} MB/s, ${formatNumber(specs.length / s, specs.length / s < 10 ? 1 : 0)} files/s (${s.toFixed(2)} s)`);
      ctx.log(`  ${name}: scoutsync ${mbps(scoutsyncS)}; cp -r ${mbps(cpS)}; Syncthing ${st === null ? SYNCTHING_MISSING : mbps(syncthingS)}`);
    }
    if (corrupt > 0) throw new Error(`${corrupt} files arrived with the wrong content`);

    const rate = (r: SetResult, s: number | null) => (s === null ? Number.NaN : r.bytes / s / 1e6);
    const filesRate = (r: SetResult, s: number | null) => (s === null ? Number.NaN : r.files / s);
    const figures: Record<string, Figure> = {};
    const anchors: Record<string, Figure> = {};
    const ratios: Record<string, number> = {};
    for (const [name, r] of Object.entries(results)) {
      figures[`${name}_mb_per_s`] = round(rate(r, r.scoutsyncS), 1);
      figures[`${name}_files_per_s`] = round(filesRate(r, r.scoutsyncS), 1);
      figures[`${name}_s`] = round(r.scoutsyncS, 3);
      anchors[`${name}_cp_mb_per_s`] = round(rate(r, r.cpS), 1);
      anchors[`${name}_syncthing_mb_per_s`] = r.syncthingS === null ? null : round(rate(r, r.syncthingS), 1);
      anchors[`${name}_syncthing_files_per_s`] = r.syncthingS === null ? null : round(filesRate(r, r.syncthingS), 1);
      ratios[`${name}_vs_syncthing`] = ratio(rate(r, r.scoutsyncS), rate(r, r.syncthingS));
      ratios[`${name}_vs_cp`] = ratio(rate(r, r.scoutsyncS), rate(r, r.cpS));
    }
    const small = results["small"]!;
    const smallRate = filesRate(small, small.scoutsyncS);
    const judged = [smallRate >= 1000];
    if (st !== null) judged.push(ratios["mib_vs_syncthing"]! >= 1.5, ratios["big_vs_syncthing"]! >= 1.5, ratios["small_vs_syncthing"]! >= 1.5);
    const f = (k: string) => formatNumber(figures[k] as number);
    const an = (k: string) => (anchors[k] === null ? "n/a" : formatNumber(anchors[k] as number));
    return {
      id: "B5",
      title: b5.title,
      status: "ok",
      sizes,
      figures,
      anchors,
      ratios,
      target: TARGET,
      pass: judged.every(Boolean),
      headline: {
        figure: `${f("mib_mb_per_s")} / ${f("big_mb_per_s")} MB/s; ${f("small_files_per_s")} files/s`,
        anchor: st === null ? `cp ${an("mib_cp_mb_per_s")} MB/s; ST n/a` : `ST ${an("mib_syncthing_mb_per_s")} / ${an("big_syncthing_mb_per_s")} MB/s; ${an("small_syncthing_files_per_s")} files/s`,
        ratio: st === null ? "n/a" : `${formatRatio(ratios["mib_vs_syncthing"]!)} / ${formatRatio(ratios["big_vs_syncthing"]!)} / ${formatRatio(ratios["small_vs_syncthing"]!)}`,
      },
      notes: st === null ? [`Syncthing ${SYNCTHING_MISSING}: judged on files/s only`] : ["MB/s are 10^6 bytes per second; Syncthing ran with fsWatcherDelayS=1"],
    };
  },
};
