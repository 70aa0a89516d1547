/**
 * The worker host's restart of workerd (local-agent/workerd-recycle.ts decides when): a real
 * libSQL server, the real bundle under Miniflare, and a restart sent the config workerd last
 * started with. The same port answers again, with the same site behind it and its uptime kept.
 * Also the dashboard's files, which the worker serves from its bundle.
 */
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { startLibsqlServer } from "../../local-agent/libsql-server/index.js";
import { startWorkerHost } from "../../local-agent/worker-host.js";
import { freePort, isRunning, ping, sweep, tempRoot } from "./site-harness.js";

afterAll(() => sweep());

const dist = fileURLToPath(new URL("../../dist/", import.meta.url));

describe("the worker host", () => {
  it("restarts workerd on the same port: the old one is gone, the new one serves the same site and dashboard, the uptime goes on", async () => {
    const root = tempRoot("host");
    const data = path.join(root, "data");
    mkdirSync(data);
    const db = await startLibsqlServer({ databases: { app: path.join(data, "app.db"), state: path.join(data, "scoutsync.db") }, defaultDatabase: "app", host: "127.0.0.1", port: 0, log: () => undefined });
    const port = await freePort();
    const announced: (number | null)[] = [];
    const site = { instance: path.join(root, "instance"), data, db: path.join(data, "app.db"), port, host: "127.0.0.1", dbPort: db.port, name: "host" };
    const host = await startWorkerHost(
      { site, dbPort: db.port, dbUrls: { app: db.url(), state: db.url("state") }, scriptPath: path.join(dist, "worker.js"), version: "0.0.0-test" },
      "t".repeat(64),
      (pid) => announced.push(pid),
    );
    try {
      const before = await ping(port);
      expect(before.status).toBe(200);
      const oldPid = host.workerdPid;
      expect(oldPid).not.toBeNull();
      await new Promise((r) => setTimeout(r, 1100));

      const fresh = await host.restartWorkerd();
      expect(fresh).not.toBeNull();
      expect(fresh).not.toBe(oldPid);
      expect(announced).toEqual([fresh]);
      expect(isRunning(oldPid!)).toBe(false);
      expect(isRunning(fresh!)).toBe(true);

      const after = await ping(port);
      expect(after.status).toBe(200);
      expect(after.body?.["site"]).toBe(before.body?.["site"]);
      expect(after.body?.["uptime"] as number).toBeGreaterThanOrEqual(1);
      // The dashboard, from the worker's bundle: the page, and htmx byte for byte from its package.
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(await page.text()).toContain('<script src="/htmx.min.js"></script>');
      const htmx = await fetch(`http://127.0.0.1:${port}/htmx.min.js`);
      expect(htmx.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
      expect(await htmx.text()).toBe(readFileSync(fileURLToPath(import.meta.resolve("htmx.org/dist/htmx.min.js")), "utf8"));
      const tag = htmx.headers.get("etag");
      expect(tag).toMatch(/^"[0-9a-f]+"$/);
      const again = await fetch(`http://127.0.0.1:${port}/htmx.min.js`, { headers: { "if-none-match": tag! } });
      expect(again.status).toBe(304);
      const missing = await fetch(`http://127.0.0.1:${port}/no-such-page`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ code: "not_found" });
    } finally {
      await host.close();
      await db.close();
    }
    expect(announced.every((pid) => pid === null || !isRunning(pid))).toBe(true);
  });
});
