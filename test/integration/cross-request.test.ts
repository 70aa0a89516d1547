/**
 * The runtime rule worker/shared.ts is built on, checked in real workerd (Miniflare): a promise
 * created by a request that has ended never settles for another request, and settledWithin,
 * bundled as the worker bundles it, still returns on the waiting request's own timer.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let mf: Miniflare;
let slow: Server;

beforeAll(async () => {
  // Answers after 100 ms: the work always finishes, well within the waiting request's 1.5 s.
  slow = createServer((_req, res) => setTimeout(() => res.end("late"), 100));
  await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
  const shared = fileURLToPath(new URL("../../worker/shared.ts", import.meta.url));
  const entry = `
    import { settledWithin } from ${JSON.stringify(shared)};
    let work = Promise.resolve("none");
    export default {
      async fetch(req, env, ctx) {
        const path = new URL(req.url).pathname;
        if (path === "/start-and-leave" || path === "/start-and-stay") {
          work = fetch(${JSON.stringify(origin)}).then((r) => r.text());
          work.catch(() => undefined);
          // Staying means the starting request lives until its work is done (as syncPeer does).
          if (path === "/start-and-stay") ctx.waitUntil(work.catch(() => undefined));
          return new Response("started");
        }
        const settled = await settledWithin(work, 1500);
        return Response.json({ settled, value: settled ? await work : null });
      },
    };`;
  const out = await build({ stdin: { contents: entry, resolveDir: process.cwd(), loader: "js" }, bundle: true, format: "esm", write: false, platform: "neutral" });
  mf = new Miniflare({ modules: true, script: out.outputFiles[0]!.text, compatibilityDate: "2025-01-01" });
});

afterAll(async () => {
  await mf?.dispose();
  await new Promise((resolve) => slow?.close(resolve));
});

describe("waiting on another request's work (workerd)", () => {
  it("work left behind by a request that ended never settles for the next one (though it finished), which stops waiting on its own timer", async () => {
    expect(await (await mf.dispatchFetch("http://site/start-and-leave")).text()).toBe("started");
    expect(await (await mf.dispatchFetch("http://site/wait")).json()).toEqual({ settled: false, value: null });
  });

  it("work whose request stays until it is done settles for the other request", async () => {
    expect(await (await mf.dispatchFetch("http://site/start-and-stay")).text()).toBe("started");
    expect(await (await mf.dispatchFetch("http://site/wait")).json()).toEqual({ settled: true, value: "late" });
  });
});
