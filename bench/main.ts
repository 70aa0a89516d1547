/**
 * `npm run bench`: runs the selected benchmarks in order, prints each one's figures, anchors
 * and ratios as it goes and a summary table at the end, and appends one record per benchmark
 * to bench/results.json. Cleans up every process and folder it made, also on Ctrl-C.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ArgsError, BENCH_USAGE, parseBenchArgs, type BenchId } from "./args.js";
import type { Benchmark } from "./benchmark.js";
import { b1 } from "./cases/b1-file-latency.js";
import { b10 } from "./cases/b10-conflict.js";
import { b2 } from "./cases/b2-row-latency.js";
import { b3 } from "./cases/b3-fan-out.js";
import { b4 } from "./cases/b4-bulk-rows.js";
import { b5 } from "./cases/b5-bulk-files.js";
import { b6 } from "./cases/b6-capture-overhead.js";
import { b7 } from "./cases/b7-idle.js";
import { b8 } from "./cases/b8-catch-up.js";
import { b9 } from "./cases/b9-large-db.js";
import { BenchContext } from "./context.js";
import { failed, type Outcome } from "./outcome.js";
import { appendResults, gitCommit, machine, toRecord } from "./results.js";
import { bundleBuilt, REPO_ROOT } from "./sites.js";
import { syncthingAvailable, syncthingVersion } from "./syncthing.js";
import { formatBytes, table } from "./stats.js";

const CASES: Record<BenchId, Benchmark> = { B1: b1, B2: b2, B3: b3, B4: b4, B5: b5, B6: b6, B7: b7, B8: b8, B9: b9, B10: b10 };

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseBenchArgs(argv, path.join(REPO_ROOT, "bench", "results.json"));
  } catch (err) {
    if (err instanceof ArgsError) {
      process.stderr.write(`bench: ${err.message}\n\n${BENCH_USAGE}\n`);
      return 2;
    }
    throw err;
  }
  if (args.help) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  if (!bundleBuilt()) {
    process.stderr.write("bench: dist/scoutsync.js is missing; run `npm run build` (npm run bench builds first)\n");
    return 1;
  }
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const root = mkdtempSync(path.join(tmpdir(), "scoutsync-bench-"));
  const ctx = new BenchContext(args, root, log);
  const m = machine();
  const commit = gitCommit(REPO_ROOT);
  const started = new Date();

  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) {
      ctx.killNow();
      process.exit(130);
    }
    interrupted = true;
    log(`\nbench: ${sig}: stopping the sites and Syncthing (again to kill at once)`);
    void ctx.close().finally(() => {
      if (!args.keep) rmSync(root, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", () => ctx.killNow());

  log(`scoutsync bench — ${started.toISOString()} — commit ${commit}`);
  log(`machine: ${m.cores} cores, ${formatBytes(m.memoryMiB * 1024 * 1024)} RAM, ${m.cpu}; node ${process.version}; ${m.os}`);
  log(`mode: ${args.quick ? "--quick (reduced sizes, printed per benchmark)" : "full (DESIGN.md §5 sizes)"}; seed ${args.seed}; temp ${root}`);
  log(`syncthing: ${syncthingAvailable() ? `${syncthingVersion()} (/usr/bin/syncthing)` : "not installed (its anchors are skipped: apt-get install -y syncthing)"}`);
  log("note: figures are wall-clock on a shared machine; other work on it shows up as noise.");

  const outcomes: Outcome[] = [];
  try {
    for (const id of args.ids) {
      if (interrupted) break;
      const bench = CASES[id];
      log(`\n== ${id}: ${bench.title} (target ${bench.target})`);
      await ctx.afterRetired();
      const t0 = performance.now();
      let o: Outcome;
      try {
        o = await bench.run(ctx);
      } catch (err) {
        o = failed(id, bench.title, bench.target, err);
        log(`  FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        for (const s of ctx.fleet.sites) log(`  --- site ${s.name} (${s.running ? "running" : "not running"}), last output:\n${s.logTail(2500).replace(/^/gm, "    ")}`);
      }
      if (o.status === "skipped") log(`  ${o.reason}`);
      else if (o.status === "ok") log(`  → ${o.pass === null ? "not judged" : o.pass ? "PASS" : "FAIL"} vs target (${o.target}); took ${Math.round((performance.now() - t0) / 1000)} s`);
      outcomes.push(o);
      ctx.earlier.set(id, o);
      if (args.results !== null && !interrupted) appendResults(args.results, [toRecord(o, { date: new Date(), commit, machine: m, quick: args.quick, seed: args.seed })]);
    }
  } finally {
    await ctx.close();
    if (!args.keep) rmSync(root, { recursive: true, force: true });
    else log(`kept ${root}`);
  }

  log("\n== summary");
  log(
    table([
      ["id", "what", "scoutsync", "anchor", "ratio", "target", "result"],
      ...outcomes.map((o) => [
        o.id,
        o.title.split(":")[0] ?? o.title,
        o.headline.figure,
        o.headline.anchor,
        o.headline.ratio,
        o.target,
        o.status === "ok" ? (o.pass === null ? "-" : o.pass ? "PASS" : "FAIL") : o.status,
      ]),
    ]),
  );
  log(`\n(${args.quick ? "quick sizes; " : ""}ratio = scoutsync ÷ anchor; elapsed ${Math.round((Date.now() - started.getTime()) / 1000)} s${args.results ? `; appended to ${path.relative(process.cwd(), args.results) || args.results}` : ""})`);
  return outcomes.some((o) => o.status === "failed") ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.stdout.write("", () => process.exit(code)),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
