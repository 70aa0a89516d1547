/**
 * The agent's block download client (block-client.ts) against real servers on loopback: node's
 * own HTTP and HTTPS servers, and raw sockets for answers node:http would never write (split at
 * every byte, early hints, a body to the close, bytes nobody asked for). Then fetchBlock on top.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import net, { type AddressInfo } from "node:net";
import path from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { CHUNK_SIZE } from "../../functions/files/chunks.js";
import { BlockBuffers } from "../../local-agent/files/block-buffers.js";
import { BlockClient, ChunkedDecoder } from "../../local-agent/files/block-client.js";
import { fetchBlock } from "../../local-agent/files/fetch-block.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const bytes = (n: number, seed = 1) => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 10)) & 0xff;
  return b;
};
/** Compared by hash: toEqual walks a Buffer byte by byte. */
const hashOf = (b: Buffer | null) => (b === null ? null : sha(b));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A server listening on loopback, closed after the test; counts the connections it accepted. */
async function listen<S extends net.Server>(server: S): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  server.on(server instanceof net.Server && "setSecureContext" in server ? "secureConnection" : "connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  );
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

function client(opts: ConstructorParameters<typeof BlockClient>[1] = {}, buffers = new BlockBuffers()): BlockClient {
  const c = new BlockClient(buffers, opts);
  cleanups.push(() => c.close());
  return c;
}

const block = bytes(3 * 64 * 1024 + 17, 5);

/** Answers by the first path segment, as a peer that may sit behind a proxy could. */
function peer(req: IncomingMessage, res: ServerResponse): void {
  const kind = new URL(req.url ?? "/", "http://x").pathname.split("/")[1];
  if (kind === "sized") return void res.writeHead(200, { "content-length": block.length }).end(block);
  if (kind === "empty") return void res.writeHead(200, { "content-length": 0 }).end();
  if (kind === "chunked") {
    // No length: written in pieces, sent chunked.
    res.writeHead(200);
    for (let at = 0; at < block.length; at += 50_000) res.write(block.subarray(at, at + 50_000));
    return void res.end();
  }
  if (kind === "noisy") return void res.writeHead(500).end(bytes(1024 * 1024, 7));
  if (kind === "small-error") return void res.writeHead(503, { "content-type": "application/json" }).end('{"error":"busy"}');
  if (kind === "wrong") return void res.writeHead(200).end(bytes(1000, 6));
  if (kind === "cut") {
    res.writeHead(200, { "content-length": block.length });
    res.write(block.subarray(0, 1000));
    return void setTimeout(() => res.destroy(), 20);
  }
  res.writeHead(404, { "content-type": "application/json" }).end('{"error":"no such block"}');
}

describe("BlockClient over node:http", () => {
  it("takes a body by length or chunked, refuses oversize and non-200 answers, and keeps its connection through all that can be read off", async () => {
    const { port, connections } = await listen(createServer(peer));
    const base = `http://127.0.0.1:${port}`;
    const c = client();
    expect(hashOf(await c.get(`${base}/sized`, CHUNK_SIZE))).toBe(sha(block));
    expect(hashOf(await c.get(`${base}/chunked`, CHUNK_SIZE))).toBe(sha(block));
    expect(await c.get(`${base}/missing`, CHUNK_SIZE)).toBeNull();
    expect(await c.get(`${base}/small-error`, CHUNK_SIZE)).toBeNull();
    expect((await c.get(`${base}/empty`, CHUNK_SIZE))?.length).toBe(0);
    expect(hashOf(await c.get(`${base}/sized`, CHUNK_SIZE))).toBe(sha(block));
    // One connection served all of the above, one after another.
    expect(connections()).toBe(1);

    // A length over the limit, or an error body too long to read off: null, and a new connection.
    expect(await c.get(`${base}/sized`, block.length - 1)).toBeNull();
    expect(await c.get(`${base}/noisy`, CHUNK_SIZE)).toBeNull();
    // A chunked body that grows over the limit, or one cut short: an error.
    await expect(c.get(`${base}/chunked`, block.length - 1)).rejects.toThrow(/more than/);
    await expect(c.get(`${base}/cut`, CHUNK_SIZE)).rejects.toThrow(/closed before the answer was complete/);
    expect(hashOf(await c.get(`${base}/sized`, CHUNK_SIZE))).toBe(sha(block));
    expect(connections()).toBe(5);
  });

  it("serves answers at once to as many requests as are out, each on its own connection", async () => {
    const { port, connections } = await listen(createServer(peer));
    const c = client();
    const got = await Promise.all(Array.from({ length: 12 }, () => c.get(`http://127.0.0.1:${port}/sized`, CHUNK_SIZE)));
    expect(new Set(got.map(hashOf))).toEqual(new Set([sha(block)]));
    expect(connections()).toBe(12);
    // All twelve are kept: the next twelve open none.
    await Promise.all(Array.from({ length: 12 }, () => c.get(`http://127.0.0.1:${port}/chunked`, CHUNK_SIZE)));
    expect(connections()).toBe(12);
  });

  it("reads a body into a buffer from the pool, which release gives back for the next", async () => {
    const { port } = await listen(createServer(peer));
    const pool = new BlockBuffers(CHUNK_SIZE, 4);
    const c = client({}, pool);
    const first = await c.get(`http://127.0.0.1:${port}/sized`, CHUNK_SIZE);
    expect(first?.buffer.byteLength).toBe(CHUNK_SIZE);
    c.release(first!);
    const second = await c.get(`http://127.0.0.1:${port}/chunked`, CHUNK_SIZE);
    expect(second?.buffer).toBe(first?.buffer);
    expect(hashOf(second)).toBe(sha(block));
  });

  it("opens a new connection, once, when the server closed the kept one while it was idle", async () => {
    const server = createServer(peer);
    const { port, connections } = await listen(server);
    const c = client();
    expect(hashOf(await c.get(`http://127.0.0.1:${port}/sized`, CHUNK_SIZE))).toBe(sha(block));
    // The server drops its idle connections: the client's kept one is dead, which it learns on use.
    server.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 50));
    expect(hashOf(await c.get(`http://127.0.0.1:${port}/sized`, CHUNK_SIZE))).toBe(sha(block));
    expect(connections()).toBe(2);
  });

  it("throws when nothing listens, and when the answer does not come in time", async () => {
    const c = client({ timeoutMs: 100 });
    const closed = await listen(net.createServer((s) => s.destroy()));
    await expect(c.get(`http://127.0.0.1:${closed.port}/sized`, CHUNK_SIZE)).rejects.toThrow();
    // Reads the request (so it sees the client go) and never answers.
    const mute = await listen(net.createServer((s) => s.resume()));
    await expect(c.get(`http://127.0.0.1:${mute.port}/sized`, CHUNK_SIZE)).rejects.toThrow(/no answer/);
    await expect(c.get("ftp://127.0.0.1/x", CHUNK_SIZE)).rejects.toThrow(/not an http/);
  });
});

describe("BlockClient over TLS", () => {
  it("downloads from an https peer whose certificate it trusts, and refuses one it does not", async () => {
    const fixtures = path.join(import.meta.dirname, "..", "fixtures");
    const cert = readFileSync(path.join(fixtures, "loopback-cert.pem"));
    const { port, connections } = await listen(createHttpsServer({ key: readFileSync(path.join(fixtures, "loopback-key.pem")), cert }, peer));
    const trusting = client({ tls: { ca: cert } });
    expect(hashOf(await trusting.get(`https://127.0.0.1:${port}/sized`, CHUNK_SIZE))).toBe(sha(block));
    expect(hashOf(await trusting.get(`https://127.0.0.1:${port}/chunked`, CHUNK_SIZE))).toBe(sha(block));
    expect(connections()).toBe(1);
    await expect(client().get(`https://127.0.0.1:${port}/sized`, CHUNK_SIZE)).rejects.toThrow(/self[- ]signed|certificate/i);
  });
});

/** A raw server that answers every request on a connection with `answer`, written in `pieces` of this many bytes. */
async function rawServer(answer: Buffer, piece = answer.length): Promise<number> {
  const { port } = await listen(
    net.createServer((s) => {
      s.on("data", async () => {
        for (let at = 0; at < answer.length; at += piece) {
          s.write(answer.subarray(at, at + piece));
          if (piece < answer.length) await new Promise((r) => setImmediate(r));
        }
      });
      s.on("error", () => undefined);
    }),
  );
  return port;
}

const head = (lines: string[]) => Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1");

describe("BlockClient with raw answers", () => {
  it("reads an answer that comes a byte at a time, after an informational one", async () => {
    const body = bytes(3000, 9);
    const answer = Buffer.concat([head(["HTTP/1.1 103 Early Hints", "Link: </x>"]), head(["HTTP/1.1 200 OK", "Content-Length: 3000", "X-Long: " + "y".repeat(2000)]), body]);
    const port = await rawServer(answer, 1);
    const c = client();
    expect(hashOf(await c.get(`http://127.0.0.1:${port}/`, CHUNK_SIZE))).toBe(sha(body));
    // And again on the same connection.
    expect(hashOf(await c.get(`http://127.0.0.1:${port}/`, CHUNK_SIZE))).toBe(sha(body));
  });

  it("takes a body that ends with the connection (no length, HTTP/1.0), and decodes chunk extensions and trailers", async () => {
    const body = bytes(5000, 3);
    const toClose = Buffer.concat([head(["HTTP/1.0 200 OK"]), body]);
    const { port } = await listen(net.createServer((s) => s.once("data", () => s.end(toClose))));
    expect(hashOf(await client().get(`http://127.0.0.1:${port}/`, CHUNK_SIZE))).toBe(sha(body));

    const chunked = Buffer.concat([
      head(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked"]),
      Buffer.from("fa0;name=value\r\n"),
      body.subarray(0, 4000),
      Buffer.from("\r\n3E8\r\n"),
      body.subarray(4000),
      Buffer.from("\r\n0\r\nX-Trailer: 1\r\n\r\n"),
    ]);
    const chunkedPort = await rawServer(chunked, 7);
    expect(hashOf(await client().get(`http://127.0.0.1:${chunkedPort}/`, CHUNK_SIZE))).toBe(sha(body));
  });

  it("refuses what is not a well-formed answer", async () => {
    const bad = async (answer: Buffer, message: RegExp) => {
      const port = await rawServer(answer);
      await expect(client().get(`http://127.0.0.1:${port}/`, CHUNK_SIZE)).rejects.toThrow(message);
    };
    await bad(Buffer.from("SSH-2.0-OpenSSH\r\n\r\n"), /not an HTTP\/1.x answer/);
    await bad(head(["HTTP/1.1 200 OK", "Content-Length: 12abc"]), /content-length that is not a number/);
    await bad(Buffer.concat([head(["HTTP/1.1 200 OK", "Content-Length: 3"]), Buffer.from("abcdef")]), /more than the answer's length/);
    await bad(Buffer.concat([head(["HTTP/1.1 200 OK", "Transfer-Encoding: chunked"]), Buffer.from("zz\r\n")]), /chunk size that is not hex/);
    await bad(Buffer.from(`HTTP/1.1 200 OK\r\nX: ${"a".repeat(20_000)}`), /headers are over/);
  });
});

describe("ChunkedDecoder", () => {
  it("gives the same data however the encoded stream is split", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (chunks, cuts) => {
        const encoded = Buffer.concat([...chunks.flatMap((c) => [Buffer.from(`${c.length.toString(16)}\r\n`), Buffer.from(c), Buffer.from("\r\n")]), Buffer.from("0\r\n\r\n")]);
        const points = [...new Set(cuts.map((n) => n % (encoded.length + 1)))].sort((a, b) => a - b);
        const out: Buffer[] = [];
        const d = new ChunkedDecoder();
        let done = false;
        let from = 0;
        for (const to of [...points, encoded.length]) {
          done = d.feed(encoded.subarray(from, to), (b) => out.push(Buffer.from(b)));
          from = to;
        }
        expect(done).toBe(true);
        expect(Buffer.concat(out).equals(Buffer.concat(chunks.map((c) => Buffer.from(c))))).toBe(true);
      }),
    );
  });
});

describe("fetchBlock", () => {
  it("asks every peer in turn, counts and skips wrong bytes, and gives their buffer back", async () => {
    const { port } = await listen(createServer(peer));
    const base = `http://127.0.0.1:${port}`;
    const released: Buffer[] = [];
    const c = client();
    const download = { get: (url: string, max: number) => c.get(url, max), release: (b: Buffer) => released.push(b) };
    const stats = { network: 0, bytes: 0, corrupt: 0 };
    const peerAt = (kind: string) => ({ url: `${base}/${kind}`, site: null });
    const got = await fetchBlock([peerAt("missing"), peerAt("wrong"), peerAt("cut"), peerAt("chunked")], sha(block), stats, download);
    expect(hashOf(got)).toBe(sha(block));
    expect(stats).toEqual({ network: 1, bytes: block.length, corrupt: 1 });
    expect(released.map((b) => b.length)).toEqual([1000]);
    expect(await fetchBlock([peerAt("wrong"), { url: "http://127.0.0.1:1", site: null }], sha(block), stats, download)).toBeNull();
    expect(stats.corrupt).toBe(2);
  });
});
