/**
 * `npm run demo -- --check`: three real sites on loopback, a row and a file written on site 1
 * reach sites 2 and 3, then everything stops and the temporary folder is gone. Bounded: the
 * demo gives itself 30 s for the check; the whole run must end within 90 s.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const DEMO = fileURLToPath(new URL("../../dist/demo.js", import.meta.url));

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [DEMO, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    p.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    // SIGINT first: the demo then stops its sites itself; SIGKILL only if that hangs.
    const soft = setTimeout(() => p.kill("SIGINT"), timeoutMs);
    const hard = setTimeout(() => p.kill("SIGKILL"), timeoutMs + 20_000);
    p.on("exit", (code) => {
      clearTimeout(soft);
      clearTimeout(hard);
      resolve({ code, out, err });
    });
  });
}

describe("npm run demo", () => {
  it("--check: a row and a file from site 1 reach sites 2 and 3, then all stops", { timeout: 120_000 }, async () => {
    const r = await run(["--check"], 90_000);
    expect(r.err).toBe("");
    expect(r.out).toMatch(/^OK: a row and a file written on site1 reached site2 and site3/m);
    expect(r.out).toContain("stopped.");
    expect(r.code).toBe(0);
    const root = /starting 3 sites in (\S+) \.\.\./.exec(r.out)?.[1];
    expect(root).toBeDefined();
    expect(existsSync(root!)).toBe(false);
  });

  it("--help prints the usage; a bad flag exits 2", async () => {
    const help = await run(["--help"], 20_000);
    expect(help.code).toBe(0);
    expect(help.out).toContain("--check");
    const bad = await run(["--nope"], 20_000);
    expect(bad.code).toBe(2);
  });
});
