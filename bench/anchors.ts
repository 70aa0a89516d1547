/** Anchors that need no other program: a raw loopback HTTP round trip, and `cp -r`. */
import { spawnSync } from "node:child_process";
import { Agent, createServer, request } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Round trips of a tiny POST to a Node http server on 127.0.0.1 over a kept-alive connection:
 * the floor under any "A tells B" on this machine. Milliseconds per request.
 */
export async function httpRoundTrips(n: number): Promise<number[]> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, method: "POST", path: "/api/sync/database/apply", agent, headers: { "content-type": "application/json" } }, (res) => {
        res.resume();
        res.on("end", resolve);
      });
      req.on("error", reject);
      req.setTimeout(5000, () => req.destroy(new Error("loopback round trip timed out")));
      req.end('{"from":"0000000000000000","changes":[]}');
    });
  try {
    for (let i = 0; i < 20; i++) await once();
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await once();
      out.push(performance.now() - t0);
    }
    return out;
  } finally {
    agent.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Seconds `cp -r from to` takes (to must not exist). */
export function cpR(from: string, to: string): number {
  const t0 = performance.now();
  const r = spawnSync("cp", ["-r", from, to], { stdio: "pipe", timeout: 600_000 });
  if (r.status !== 0) throw new Error(`cp -r failed: ${r.stderr?.toString() ?? r.error?.message ?? "unknown"}`);
  return (performance.now() - t0) / 1000;
}
