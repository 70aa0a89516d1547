/**
 * The agent's loopback server for its own worker: GET /chunk/<sha256> serves a block read from
 * the instance folder (checked against its hash unless its file is unchanged since it was hashed;
 * 404 when no file on disk holds it), and
 * POST /wake tells the materializer that received versions wait. Bound to 127.0.0.1 on a random
 * port and guarded by the admin token, like every other local endpoint.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SHA256_RE } from "../../functions/files/chunks.js";
import { PendingPageSchema, type PendingPage } from "../../functions/wire/files.js";

/** A wake carries at most one apply batch of entries. */
const MAX_WAKE_BYTES = 64 * 1024 * 1024;

async function readJson(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_WAKE_BYTES) return null;
    parts.push(chunk);
  }
  if (size === 0) return null;
  try {
    return JSON.parse(Buffer.concat(parts).toString("utf8")) as unknown;
  } catch {
    return null;
  }
}

export interface ChunkServerOptions {
  token: string;
  /** The bytes of a block as hashed, or null. */
  getBlock(hash: string): Promise<Buffer | null>;
  /** A block's bytes were handed to the socket in full: its buffer may be reused. */
  sent?(block: Buffer): void;
  /** Received versions wait; `page` is the worker's list of them when it sent one. */
  onWake(page: PendingPage | null): void;
  log(line: string): void;
}

export interface ChunkServer {
  port: number;
  /** Blocks served since start. */
  readonly stats: { chunks: number; bytes: number; misses: number };
  close(): Promise<void>;
}

function authorized(req: IncomingMessage, token: string): boolean {
  return req.headers.authorization === `Bearer ${token}`;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export async function startChunkServer(opts: ChunkServerOptions): Promise<ChunkServer> {
  const stats = { chunks: 0, bytes: 0, misses: 0 };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!authorized(req, opts.token)) return reply(res, 403, { error: "the chunk server answers only its own worker", code: "forbidden" });
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method === "POST" && url.pathname === "/wake") {
      const parsed = PendingPageSchema.safeParse(await readJson(req));
      opts.onWake(parsed.success ? parsed.data : null);
      return reply(res, 200, { ok: true });
    }
    const m = /^\/chunk\/([^/]+)$/.exec(url.pathname);
    if (req.method === "GET" && m) {
      const hash = m[1] ?? "";
      if (!SHA256_RE.test(hash)) return reply(res, 400, { error: "block hash must be 64 lowercase hex digits", code: "invalid" });
      const block = await opts.getBlock(hash);
      if (block === null) {
        stats.misses++;
        return reply(res, 404, { error: `no file on disk holds block ${hash}`, code: "no_such_block" });
      }
      stats.chunks++;
      stats.bytes += block.length;
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": block.length });
      // Not on "close": a response cut short may still have the buffer in a write.
      res.once("finish", () => opts.sent?.(block));
      res.end(block);
      return;
    }
    reply(res, 404, { error: `no route for ${req.method} ${url.pathname}`, code: "not_found" });
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.log(`chunk server: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) reply(res, 500, { error: "could not read the block", code: "internal" });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
