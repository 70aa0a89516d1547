/**
 * A real site from `scoutsync start`: up, ping, the data folder's files, refusal of a second
 * start and of a busy port, restart of a killed child, clean stop on SIGINT, no orphans when
 * the launcher is killed outright, and a crash loop that stops the site.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:net";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { retryStale } from "../../local-agent/http.js";
import { cli, freePort, isRunning, ping, remember, Site, sweep, tempRoot, waitUntil } from "./site-harness.js";

afterAll(() => sweep());

describe("scoutsync start", () => {
  it("brings a site up, guards its data folder and stops cleanly on SIGINT", async () => {
    const root = tempRoot("life");
    const { site, port } = await Site.start(root, "alpha");
    const data = path.join(root, "data");

    // One line on stdout for the user, exactly as documented.
    expect(await site.waitForUp()).toBe(
      `scoutsync: site "alpha" is up — dashboard http://127.0.0.1:${port}/ (data ${data}, instance ${path.join(root, "instance")})`,
    );
    const first = await ping(port);
    expect(first.status).toBe(200);
    expect(first.body?.["site"]).toMatch(/^[0-9a-z-]{4,}$/i);
    expect(first.body?.["name"]).toBe("alpha");
    // Its heads: what a peer's idle tick compares with its checkpoints.
    expect(first.body).toMatchObject({ seq: expect.any(Number), filesSeq: expect.any(Number) });

    // The data folder: token and runtime.json readable by the owner only, lock with our pid.
    expect(statSync(path.join(data, "admin-token")).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(data, "admin-token"), "utf8").trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(path.join(data, "runtime.json")).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(data, "scoutsync.lock"), "utf8").trim()).toBe(String(site.proc.pid));
    const rt = site.runtime();
    expect(rt).toMatchObject({ pid: site.proc.pid, port, host: "127.0.0.1", name: "alpha" });
    expect(Object.keys(rt.children).sort()).toEqual(["agent", "db", "worker", "workerd"]);
    expect(existsSync(path.join(root, "instance"))).toBe(true);

    // status talks to it through the admin token.
    const status = cli(root, "status", "--json");
    expect(status.err).toBe("");
    expect(status.code).toBe(0);
    expect(JSON.parse(status.out)).toMatchObject({ site: first.body?.["site"], name: "alpha", local: { port, pid: site.proc.pid } });
    const human = cli(root, "status");
    expect(human.code).toBe(0);
    expect(human.out).toContain('"alpha"');

    // A second start on the same data folder refuses without touching it.
    const again = new Site(root, ["--data", "data", "--port", String(await freePort()), "--host", "127.0.0.1"]);
    expect((await again.waitForExit()).code).toBe(1);
    expect(again.err).toBe(`scoutsync: the data folder ${data} is in use by another scoutsync (pid ${site.proc.pid}); stop it or pass a different --data\n`);
    expect(site.runtime().pid).toBe(site.proc.pid);

    // A start on a port in use names the port and the flag.
    const other = tempRoot("busy");
    const busy = new Site(other, ["--data", "data", "--instance", "instance", "--port", String(port), "--host", "127.0.0.1"]);
    expect((await busy.waitForExit()).code).toBe(1);
    expect(busy.err).toBe(`scoutsync: port ${port} is already in use on 127.0.0.1; pick another with --port N\n`);

    // SIGINT: exit 0, nothing left running, runtime.json and lock removed.
    const pids = [...Object.values(site.runtime().children)];
    site.signal("SIGINT");
    expect(await site.waitForExit()).toEqual({ code: 0, signal: null });
    await waitUntil("every child and workerd to be gone", () => pids.every((p) => !isRunning(p)), 10_000);
    expect(existsSync(path.join(data, "runtime.json"))).toBe(false);
    expect(existsSync(path.join(data, "scoutsync.lock"))).toBe(false);
    expect(site.err).toMatch(/scoutsync: SIGINT: stopping the site\nscoutsync: stopped\n$/);
  });

  it("refuses a --db-port that is in use", async () => {
    const holder: Server = createServer();
    const dbPort = await new Promise<number>((resolve) =>
      holder.listen(0, "127.0.0.1", () => {
        const a = holder.address();
        resolve(typeof a === "object" && a ? a.port : 0);
      }),
    );
    try {
      const root = tempRoot("dbport");
      const s = new Site(root, ["--data", "data", "--instance", "instance", "--port", String(await freePort()), "--host", "127.0.0.1", "--db-port", String(dbPort)]);
      expect((await s.waitForExit()).code).toBe(1);
      expect(s.err).toContain(`scoutsync: port ${dbPort} is already in use on 127.0.0.1; pick another with --db-port N`);
    } finally {
      holder.close();
    }
  });

  it("restarts a killed worker (and its workerd) and keeps the same ports", async () => {
    const root = tempRoot("restart");
    const { site, port } = await Site.start(root, "restarts");
    const before = site.runtime();
    const siteId = (await ping(port)).body?.["site"];
    process.kill(before.children["worker"]!, "SIGKILL");
    const after = await waitUntil("a new worker in runtime.json", () => {
      const r = site.runtime();
      return r.children["worker"] !== before.children["worker"] ? r : undefined;
    });
    await waitUntil("ping to answer again", async () => (await ping(port)).status === 200);
    expect((await ping(port)).body?.["site"]).toBe(siteId);
    expect(after.dbPort).toBe(before.dbPort);
    expect(isRunning(before.children["workerd"]!)).toBe(false);
    expect(site.err).toMatch(/scoutsync: the worker child exited unexpectedly \(signal SIGKILL\); restarting it in \d+ ms/);

    // A killed db comes back on the same port, so the worker's URL stays valid.
    process.kill(after.children["db"]!, "SIGKILL");
    await waitUntil("a new db in runtime.json", () => site.runtime().children["db"] !== after.children["db"]);
    expect(site.runtime().dbPort).toBe(before.dbPort);
    await waitUntil("ping to answer after the db restart", async () => (await ping(port)).status === 200);

    const all = [...Object.values(before.children), ...Object.values(after.children), ...Object.values(site.runtime().children)];
    site.signal("SIGTERM");
    expect((await site.waitForExit()).code).toBe(0);
    await waitUntil("no child left", () => all.every((p) => !isRunning(p)), 10_000);
  });

  it("children exit on their own when the launcher is killed with SIGKILL, and the next start takes over", async () => {
    const root = tempRoot("orphan");
    const { site, port } = await Site.start(root, "orphans");
    const children = Object.values(site.runtime().children);
    site.signal("SIGKILL");
    await site.waitForExit();
    await waitUntil("every child of the killed launcher to exit", () => children.every((p) => !isRunning(p)), 20_000);
    expect((await ping(port)).status).toBe(0);

    // The stale lock (dead pid) does not block the next start on the same folder.
    const next = new Site(root, ["--data", "data", "--instance", "instance", "--port", String(port), "--host", "127.0.0.1", "--name", "orphans"]);
    await next.waitForUp();
    remember(Object.values(next.runtime().children));
    expect((await ping(port)).status).toBe(200);
    next.signal("SIGINT");
    expect((await next.waitForExit()).code).toBe(0);
  });

  it("stops the site with exit 1 when a child crashes 5 times within a minute", async () => {
    const root = tempRoot("crashloop");
    const { site } = await Site.start(root, "crashy");
    let agent = site.runtime().children["agent"]!;
    const killed: number[] = [];
    for (let i = 0; i < 5; i++) {
      process.kill(agent, "SIGKILL");
      killed.push(agent);
      if (i === 4) break;
      agent = await waitUntil(`agent restart ${i + 1}`, () => {
        const next = site.runtime().children["agent"];
        return next !== undefined && !killed.includes(next) ? next : undefined;
      });
    }
    const others = Object.values(site.runtime().children);
    expect((await site.waitForExit()).code).toBe(1);
    expect(site.err).toContain("scoutsync: the agent child crashed 5 times within 60 s (last: signal SIGKILL); stopping the site");
    await waitUntil("the other children to be stopped", () => others.every((p) => !isRunning(p)), 10_000);
  });
});

describe("memory after a burst", () => {
  it("workerd runs with --expose-gc, so a look that finds the work over collects the worker's heap", async () => {
    const root = tempRoot("gc");
    const { site, port } = await Site.start(root, "gc");
    const token = readFileSync(path.join(site.dataDir, "admin-token"), "utf8").trim();
    const post = async (pathname: string): Promise<Record<string, unknown>> => {
      // workerd may close a kept-alive connection just as it is reused (a full test run hit it once).
      const res = await retryStale(() =>
        fetch(`http://127.0.0.1:${port}${pathname}`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: "{}",
        }),
      );
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, unknown>;
    };
    // `settled` is true only when gc ran. The agent's own settle calls may end a spell first: a few spells.
    let collected = 0;
    for (let spell = 0; spell < 5 && collected === 0; spell++) {
      await post("/api/sync/database/capture");
      const first = await post("/api/sync/settle");
      const second = await post("/api/sync/settle");
      if (first["settled"] === true) collected++;
      if (second["settled"] === true) {
        collected++;
        // The first look saw the work: it asked for another look soon.
        expect(first).toEqual({ settled: false, settleInMs: 3000 });
      }
    }
    expect(collected).toBeGreaterThan(0);
    // Every Node child collects after a burst (local-agent/collect.ts), so each has gc.
    const children = site.runtime().children;
    for (const kind of ["db", "worker", "agent"] as const) {
      const args = readFileSync(`/proc/${children[kind]!}/cmdline`, "utf8").split("\0");
      expect(args.includes("--expose-gc"), kind).toBe(true);
    }
    site.signal("SIGINT");
    expect((await site.waitForExit()).code).toBe(0);
  });
});

describe("two sites side by side", () => {
  it("run with different ports, data and instance folders and both answer ping", async () => {
    const [a, b] = await Promise.all([Site.start(tempRoot("pair-a"), "a"), Site.start(tempRoot("pair-b"), "b")]);
    const [pa, pb] = await Promise.all([ping(a.port), ping(b.port)]);
    expect(pa.status).toBe(200);
    expect(pb.status).toBe(200);
    expect(pa.body?.["name"]).toBe("a");
    expect(pb.body?.["name"]).toBe("b");
    expect(pa.body?.["site"]).not.toBe(pb.body?.["site"]);
    expect(a.site.runtime().dbPort).not.toBe(b.site.runtime().dbPort);
    a.site.signal("SIGINT");
    b.site.signal("SIGINT");
    expect((await a.site.waitForExit()).code).toBe(0);
    expect((await b.site.waitForExit()).code).toBe(0);
  });
});
