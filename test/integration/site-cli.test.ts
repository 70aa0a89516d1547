/**
 * The CLI against running sites: status, peers (the worker reaching another site on loopback),
 * the admin password, and the server's error messages passed through with exit code 1.
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUNDLE, cli, Site, sweep, tempRoot, waitUntil } from "./site-harness.js";

let a: { site: Site; port: number };
let b: { site: Site; port: number };

beforeAll(async () => {
  [a, b] = await Promise.all([Site.start(tempRoot("cli-a"), "north"), Site.start(tempRoot("cli-b"), "south")]);
  a.site.runtime();
  b.site.runtime();
});

afterAll(async () => {
  for (const s of [a?.site, b?.site]) s?.signal("SIGINT");
  await Promise.all([a?.site.waitForExit(), b?.site.waitForExit()]);
  sweep();
});

describe("scoutsync against a running site", () => {
  it("status prints this site's name, ports and peers", () => {
    const r = cli(a.site.root, "status");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain('"north"');
    expect(r.out).toContain(`http://127.0.0.1:${a.port}/`);
    expect(r.out).toContain(`127.0.0.1:${a.site.runtime().dbPort}`);
  });

  it("peer add / list / remove, and the worker reaches the peer over loopback", async () => {
    const add = cli(a.site.root, "peer", "add", `http://127.0.0.1:${b.port}/`, "--name", "south");
    expect(add.err).toBe("");
    expect(add.code).toBe(0);
    expect(add.out).toMatch(new RegExp(`^scoutsync: added peer http://127\\.0\\.0\\.1:${b.port} \\("south"\\) with id (\\S+)\\n$`));

    // The same URL again: the server's reason, exit 1.
    const dup = cli(a.site.root, "peer", "add", `http://127.0.0.1:${b.port}`);
    expect(dup.code).toBe(1);
    expect(dup.err).toMatch(/^scoutsync: .*already a peer.*\n$/);

    // The agent's tick makes the worker sync with the peer; it then shows as online.
    const peer = await waitUntil(
      "the peer to be online",
      () => {
        const list = cli(a.site.root, "peer", "list", "--json");
        const peers = JSON.parse(list.out) as { id: string; online: boolean; name: string }[];
        return peers[0]?.online ? peers[0] : undefined;
      },
      30_000,
    );
    expect(peer.name).toBe("south");

    const table = cli(a.site.root, "peer", "list");
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^ID\s+NAME\s+URL\s+STATE/);
    expect(table.out).toContain("online");

    const status = JSON.parse(cli(a.site.root, "status", "--json").out) as { peers: { id: string }[] };
    expect(status.peers.map((p) => p.id)).toEqual([peer.id]);

    const rm = cli(a.site.root, "peer", "remove", peer.id);
    expect(rm.code).toBe(0);
    expect(rm.out).toBe(`scoutsync: removed peer ${peer.id}\n`);
    const again = cli(a.site.root, "peer", "remove", peer.id);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/^scoutsync: no peer with id/);
    expect(cli(a.site.root, "peer", "list").out).toMatch(/^no peers yet/);
  });

  it("admin password reads one line from a pipe and enforces the length", () => {
    const run = (input: string) =>
      spawnSync(process.execPath, [BUNDLE, "admin", "password", "--data", "data"], { cwd: b.site.root, input, encoding: "utf8", timeout: 30_000 });
    const short = run("tooshort\n");
    expect(short.status).toBe(1);
    expect(short.stderr).toBe("scoutsync: the password must have at least 10 characters\n");
    const ok = run("correct horse battery staple\n");
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe("scoutsync: superadmin password set\n");
  });
});
