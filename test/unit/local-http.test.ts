/** local-agent/http.ts: one retry when the kept-alive connection was closed under the request; retries while a restarting site refuses; none otherwise. */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { callLocal, retryRefused, retryStale } from "../../local-agent/http.js";

let server: Server | null = null;

afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = null;
});

/** A server that drops the connection of its first `drops` requests without an answer, then says "ok". */
async function dropping(drops: number): Promise<{ url: string; requests: () => number }> {
  let n = 0;
  server = createServer((req, res) => {
    n++;
    if (n <= drops) {
      req.socket.destroy();
      return;
    }
    res.end("ok");
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, requests: () => n };
}

describe("retryStale", () => {
  it("repeats a call once when the connection was closed under it", async () => {
    const s = await dropping(1);
    const res = await retryStale(() => fetch(s.url));
    expect(await res.text()).toBe("ok");
    expect(s.requests()).toBe(2);
  });

  it("gives up after the one retry, with the original kind of error", async () => {
    const s = await dropping(5);
    await expect(retryStale(() => fetch(s.url))).rejects.toThrow(/fetch failed/);
    expect(s.requests()).toBe(2);
  });
});

describe.each([
  ["retryStale", retryStale],
  ["retryRefused", retryRefused],
])("%s", (_name, retry) => {
  it("does not repeat a call that failed for another reason", async () => {
    let calls = 0;
    await expect(
      retry(async () => {
        calls++;
        throw new Error("HTTP 500");
      }),
    ).rejects.toThrow("HTTP 500");
    expect(calls).toBe(1);
  });
});

describe("retryRefused", () => {
  /** A port nobody listens on (yet): one a server just gave back. */
  async function freePort(): Promise<number> {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    return port;
  }

  it("waits out a site whose port opens a moment later (its worker restarting)", async () => {
    const port = await freePort();
    let calls = 0;
    const opening = setTimeout(() => {
      server = createServer((_req, res) => res.end("back"));
      server.listen(port, "127.0.0.1");
    }, 300);
    try {
      const res = await retryRefused(() => {
        calls++;
        return fetch(`http://127.0.0.1:${port}/`);
      });
      expect(await res.text()).toBe("back");
      expect(calls).toBeGreaterThan(1);
    } finally {
      clearTimeout(opening);
    }
  });

  it("gives up once the window is over", async () => {
    const port = await freePort();
    let calls = 0;
    await expect(
      retryRefused(() => {
        calls++;
        return fetch(`http://127.0.0.1:${port}/`);
      }, 250),
    ).rejects.toThrow(/fetch failed/);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThanOrEqual(3);
  });
});

describe("callLocal", () => {
  it("asks its worker for an uncompressed answer (Miniflare gzips JSON for any client that accepts it)", async () => {
    let asked: string | undefined;
    server = createServer((req, res) => {
      asked = req.headers["accept-encoding"];
      res.setHeader("content-type", "application/json");
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const res = await callLocal({ host: "127.0.0.1", port: (server.address() as AddressInfo).port, token: "t" }, "GET", "/api/sync/ping");
    expect(res).toMatchObject({ status: 200, json: { ok: true } });
    expect(asked).toBe("identity");
  });
});
