/** The CLI as users run it: the built bundle in a subprocess, exit codes and one-line errors. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const bundle = fileURLToPath(new URL("../../dist/scoutsync.js", import.meta.url));
const cwd = mkdtempSync(path.join(tmpdir(), "scoutsync-cli-"));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [bundle, ...args], { cwd, encoding: "utf8", timeout: 20_000, input: "" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("scoutsync --help", () => {
  it.each([
    [["--help"], /Usage:\n  scoutsync start/],
    [["-h"], /scoutsync peer add URL/],
    [["start", "--help"], /--db-port N/],
    [["start", "--port", "nonsense", "-h"], /--instance DIR/],
    [["status", "--help"], /--json/],
    [["peer", "--help"], /peer remove ID/],
    [["peer", "add", "--help"], /--name NAME/],
    [["peer", "list", "-h"], /--json/],
    [["peer", "remove", "--help"], /ID is the first column/],
    [["admin", "--help"], /admin password/],
    [["admin", "password", "--help"], /at least 10 characters/],
  ])("%j prints usage and exits 0", (args, text) => {
    const r = run(...args);
    expect(r.err).toBe("");
    expect(r.out).toMatch(text);
    expect(r.code).toBe(0);
  });

  it("--version prints the package version", () => {
    const r = run("--version");
    expect(r.code).toBe(0);
    expect(r.out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe("bad input exits 2 with one line naming the problem", () => {
  it.each([
    [[], "missing command; see scoutsync --help"],
    [["frobnicate"], 'unknown command "frobnicate"; see scoutsync --help'],
    [["start", "--bogus"], "unknown option --bogus; see scoutsync start --help"],
    [["start", "--port"], "--port needs a value; see scoutsync start --help"],
    [["start", "--port", "http"], '--port must be a port number from 1 to 65535 (got "http"); see scoutsync start --help'],
    [["start", "--port", "70000"], '--port must be a port number from 1 to 65535 (got "70000"); see scoutsync start --help'],
    [["start", "--db-port", "x"], '--db-port must be a port number from 1 to 65535 (got "x"); see scoutsync start --help'],
    [["start", "extra"], 'unexpected argument "extra"; see scoutsync start --help'],
    [["status", "--json=yes"], "--json takes no value; see scoutsync status --help"],
    [["status", "now"], 'unexpected argument "now"; see scoutsync status --help'],
    [["peer"], "missing subcommand: add, list or remove; see scoutsync peer --help"],
    [["peer", "rename"], 'unknown subcommand "rename": use add, list or remove; see scoutsync peer --help'],
    [["peer", "add"], "missing URL; see scoutsync peer add --help"],
    [["peer", "add", "http://a:1", "http://b:2"], 'unexpected argument "http://b:2"; see scoutsync peer add --help'],
    [["peer", "remove"], "missing ID; see scoutsync peer remove --help"],
    [["peer", "list", "--data"], "--data needs a value; see scoutsync peer list --help"],
    [["admin"], "missing subcommand: password; see scoutsync admin --help"],
    [["admin", "reset"], 'unknown subcommand "reset": use password; see scoutsync admin --help'],
  ])("%j", (args, message) => {
    const r = run(...args);
    expect(r.err).toBe(`scoutsync: ${message}\n`);
    expect(r.out).toBe("");
    expect(r.code).toBe(2);
  });

  it.each([["ftp://host:21"], ["http://host:8787/api"], ["http://user:pw@host"], ["http://host?x=1"], ["http://"]])(
    "peer add rejects the URL %s before calling the site",
    (url) => {
      const r = run("peer", "add", url);
      expect(r.err).toMatch(/^scoutsync: URL .*; see scoutsync peer add --help\n$/);
      expect(r.code).toBe(2);
    },
  );
});

describe("commands that need a running site", () => {
  it.each([[["status"]], [["status", "--json"]], [["peer", "list"]], [["peer", "add", "http://10.0.0.2:8787"]], [["peer", "remove", "ab12"]], [["admin", "password"]]])(
    "%j without a site exits 1 and says how to start one",
    (args) => {
      const r = run(...args, "--data", "nothing-here");
      expect(r.err).toBe(`scoutsync: no site is running for data folder ${path.join(cwd, "nothing-here")} (start it with scoutsync start)\n`);
      expect(r.code).toBe(1);
    },
  );
});
