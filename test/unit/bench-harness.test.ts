import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ArgsError, DEFAULT_SEED, parseBenchArgs, RUN_ORDER } from "../../bench/args.js";
import { BenchContext } from "../../bench/context.js";
import { failed, skipped } from "../../bench/outcome.js";
import { appendResults, toRecord } from "../../bench/results.js";
import { FULL, QUICK, withOverrides } from "../../bench/sizes.js";
import type { RunningSite } from "../../bench/sites.js";
import { configXml, type SyncthingNode } from "../../bench/syncthing.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("bench arguments", () => {
  it("runs everything at full size by default, database benchmarks first", () => {
    const a = parseBenchArgs([], "/r.json");
    expect(a.ids).toEqual(RUN_ORDER);
    expect(a.ids.indexOf("B2")).toBeLessThan(a.ids.indexOf("B1"));
    expect(a).toMatchObject({ quick: false, seed: DEFAULT_SEED, results: "/r.json", keep: false });
    expect(a.sizes).toEqual(FULL);
  });

  it("selects benchmarks case-insensitively, in run order, with quick sizes and overrides", () => {
    const a = parseBenchArgs(["b4", "B2", "--quick", "--seed", "7", "--size", "b3.sites=2,3", "--size", "b4.rows=1_000", "--no-record"], "/r.json");
    expect(a.ids).toEqual(["B2", "B4"]);
    expect(a.seed).toBe(7);
    expect(a.results).toBeNull();
    expect(a.sizes.b3.sites).toEqual([2, 3]);
    expect(a.sizes.b4.rows).toBe(1000);
    expect(a.sizes.b2).toEqual(QUICK.b2);
  });

  it("refuses unknown benchmarks, bad seeds, unknown sizes and unknown flags", () => {
    expect(() => parseBenchArgs(["B11"], "/r")).toThrow(ArgsError);
    expect(() => parseBenchArgs(["--seed", "x"], "/r")).toThrow(/--seed/);
    expect(() => parseBenchArgs(["--size", "b4.nope=1"], "/r")).toThrow(/no size named b4.nope/);
    expect(() => parseBenchArgs(["--size", "b4.rows=-1"], "/r")).toThrow(/non-negative/);
    expect(() => parseBenchArgs(["--fast"], "/r")).toThrow(ArgsError);
  });

  it("never changes the default size tables", () => {
    withOverrides(FULL, ["b4.rows=1"]);
    expect(FULL.b4.rows).toBe(100_000);
  });

  it("keeps quick sizes smaller than full ones", () => {
    expect(QUICK.b4.rows).toBeLessThan(FULL.b4.rows);
    expect(QUICK.b9.bigRows).toBeLessThan(FULL.b9.bigRows);
    expect(QUICK.b7.seconds).toBeLessThan(FULL.b7.seconds);
  });
});

describe("retired sites", () => {
  it("are waited for before the next benchmark starts: their stopping is not in its figures", async () => {
    const ctx = new BenchContext(parseBenchArgs([], "/r.json"), tmpdir(), () => undefined);
    let stopped!: () => void;
    const site = { stop: () => new Promise<void>((resolve) => (stopped = resolve)) } as unknown as RunningSite;
    ctx.retire([site]);
    let waited = false;
    const after = ctx.afterRetired().then(() => (waited = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(waited, "still stopping").toBe(false);
    stopped();
    await after;
    expect(waited).toBe(true);
    await ctx.afterRetired();
  });
});

describe("results file", () => {
  const ctx = { date: new Date("2026-05-01T00:00:00Z"), commit: "abc", machine: { cores: 2, memoryMiB: 1024, cpu: "x", os: "y" }, quick: true, seed: 1 };

  it("creates the array, then appends to it, with NaN ratios as null", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "scoutsync-bench-unit-"));
    dirs.push(dir);
    const file = path.join(dir, "results.json");
    const o = { ...skipped("B1", "file latency", "p50 ≤ 50 ms", "skipped: file sync not available"), ratios: { x: Number.NaN, y: 1.23456 } };
    appendResults(file, [toRecord(o, ctx)]);
    appendResults(file, [toRecord(failed("B2", "row latency", "t", new Error("boom")), ctx)]);
    const records = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>[];
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({ benchmark: "B1", status: "skipped", reason: "skipped: file sync not available", ratios: { x: null, y: 1.2346 }, commit: "abc", quick: true, pass: null });
    expect(records[1]).toMatchObject({ benchmark: "B2", status: "failed", reason: "boom" });
    expect(records[0]!["node"]).toBe(process.version);
  });

  it("refuses to overwrite a file that is not an array", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "scoutsync-bench-unit-"));
    dirs.push(dir);
    const file = path.join(dir, "results.json");
    writeFileSync(file, '{"not": "an array"}');
    expect(() => appendResults(file, [])).toThrow(/not a JSON array/);
    expect(readFileSync(file, "utf8")).toBe('{"not": "an array"}');
  });
});

describe("Syncthing anchor config", () => {
  const node = (name: string, port: number): SyncthingNode => ({ name, home: `/h/${name}`, folder: `/f/${name}`, gui: port + 1, listen: port, apiKey: "k", id: `ID-${name}`, proc: null, log: "" });

  it("stays on loopback and offline, and keeps Syncthing's default conflict copies", () => {
    const xml = configXml(node("a", 2000), node("b", 3000), 1);
    expect(xml).toContain("<listenAddress>tcp://127.0.0.1:2000</listenAddress>");
    expect(xml).toContain("<address>tcp://127.0.0.1:3000</address>");
    expect(xml).toContain("<address>127.0.0.1:2001</address>");
    for (const off of ["globalAnnounceEnabled", "localAnnounceEnabled", "relaysEnabled", "natEnabled", "crashReportingEnabled", "startBrowser"]) expect(xml).toContain(`<${off}>false</${off}>`);
    expect(xml).toContain("<urAccepted>-1</urAccepted>");
    expect(xml).toContain("<stunKeepaliveStartS>0</stunKeepaliveStartS>");
    expect(xml).toContain('fsWatcherDelayS="1"');
    expect(xml).toContain("<maxConflicts>10</maxConflicts>");
    expect(xml).not.toMatch(/dynamic|default<\/listenAddress>/);
  });
});

describe("process sampling (/proc)", () => {
  it.runIf(process.platform === "linux")("sums CPU and memory over a process and its children", async () => {
    const { sampleUsage, withDescendants } = await import("../../bench/procstat.js");
    const { spawn } = await import("node:child_process");
    const child = spawn("sleep", ["5"]);
    try {
      expect(withDescendants([process.pid])).toContain(child.pid);
      const busyUntil = Date.now() + 150;
      while (Date.now() < busyUntil); // some CPU for the window to see
      const u = (await sampleUsage({ self: () => [process.pid] }, 0.5))["self"]!;
      expect(u.processes).toBeGreaterThanOrEqual(2);
      expect(u.rssMeanMiB).toBeGreaterThan(10);
      expect(u.pssMeanMiB).toBeGreaterThan(0);
      expect(u.cpuPct).toBeGreaterThanOrEqual(0);
      expect(u.seconds).toBeGreaterThanOrEqual(0.4);
    } finally {
      child.kill();
    }
  });
});
