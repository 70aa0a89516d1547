// The embedded libSQL server: Hrana over HTTP (v2, JSON) on a loopback address, serving a few
// named SQLite files so that the worker (which cannot open files) and any @libsql/client can
// use them as they would use sqld.
//
//   GET  /health                      -> {"ok":true}
//   GET  /v2, POST /v2/pipeline        -> the default database
//   GET  /db/<name>/v2, POST /db/<name>/v2/pipeline -> database <name>
//   /v3, /v3-protobuf (and below)      -> 404, so clients fall back to v2

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP } from "node:net";
import { resolve as resolvePath } from "node:path";
import { failureReporter } from "./checkpointer.js";
import { HttpError } from "./errors.js";
import { runPipeline, type PipelineContext } from "./pipeline.js";
import { describeZodError, encodeJson, encodePipelineResponse, PipelineReqBodySchema } from "./protocol.js";
import { DatabasePool } from "./pool.js";
import { StreamRegistry } from "./streams.js";

export interface LibsqlServerOptions {
  /** Database name -> file path, e.g. { app: "/x/app.db", state: "/x/scoutsync.db" }. */
  databases: Record<string, string>;
  /** Served at the root path, e.g. "app". */
  defaultDatabase: string;
  /** Default "127.0.0.1"; anything that is not a loopback address is refused. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 32 MiB; larger bodies get HTTP 413 without being read. */
  maxBodyBytes?: number;
  /** Default 10 s; a stream idle longer is closed and its transaction rolled back. */
  streamIdleMs?: number;
  log?: (line: string) => void;
  /**
   * Runs when a database has had no stream for a moment (its connections' caches were just
   * handed back): where the heap of a burst's request bodies can go back too (children.ts).
   */
  onQuiet?: () => void;
}

export interface LibsqlServer {
  port: number;
  /** Base URL for a client: the root for the default database, `/db/<name>/` for the others. */
  url(name?: string): string;
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY = 32 * 1024 * 1024;
// A client that vanished mid-transaction (a worker request cancelled by the runtime) holds the
// write lock, for the app too, until this runs out: keep it short.
const DEFAULT_STREAM_IDLE_MS = 10_000;
// Each stream may hold a connection, and each connection about three file descriptors.
const MAX_STREAMS = 200;
const DB_NAME = /^[A-Za-z0-9_-]+$/;
const JSON_TYPE = "application/json"; // exactly this: the client parses error bodies only then

function isLoopback(host: string): boolean {
  const version = isIP(host);
  if (version === 4) return host.startsWith("127.");
  if (version === 6) {
    const lower = host.toLowerCase();
    return lower === "::1" || lower === "0:0:0:0:0:0:0:1" || /^::ffff:127\./.test(lower);
  }
  return false;
}

function sendJson(res: ServerResponse, status: number, body: unknown, close = false): void {
  sendBytes(res, status, Buffer.from(encodeJson(body), "utf8"), close);
}

/**
 * Sends a JSON body as one Buffer: given a string, `http` prepends the headers to it and the
 * socket's writev encodes it again, into a fresh allocation of three times its length.
 */
function sendBytes(res: ServerResponse, status: number, bytes: Buffer, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string | number> = {
    "content-type": JSON_TYPE,
    "content-length": bytes.length,
    "cache-control": "no-store",
  };
  if (close) headers.connection = "close";
  res.writeHead(status, headers);
  res.end(bytes);
}

function sendError(res: ServerResponse, status: number, code: string, message: string, close = false): void {
  // `error` for people and scripts; `message`/`code` are the Hrana Error the client reports.
  sendJson(res, status, { error: message, message, code }, close);
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new BodyTooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}

export async function startLibsqlServer(opts: LibsqlServerOptions): Promise<LibsqlServer> {
  const host = opts.host ?? "127.0.0.1";
  if (!isLoopback(host)) throw new Error(`libsql server: refusing to listen on ${host}: only loopback addresses are allowed`);
  const names = Object.keys(opts.databases);
  if (names.length === 0) throw new Error("libsql server: no databases given");
  for (const name of names) {
    if (!DB_NAME.test(name)) throw new Error(`libsql server: database name ${JSON.stringify(name)} must match ${String(DB_NAME)}`);
  }
  if (!Object.hasOwn(opts.databases, opts.defaultDatabase)) {
    throw new Error(`libsql server: default database ${JSON.stringify(opts.defaultDatabase)} is not among ${names.join(", ")}`);
  }
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const streamIdleMs = opts.streamIdleMs ?? DEFAULT_STREAM_IDLE_MS;
  const log = (line: string): void => opts.log?.(line);

  const pools = new Map<string, DatabasePool>();
  try {
    for (const name of names) {
      const file = opts.databases[name];
      if (file === undefined || file === "" || file === ":memory:") throw new Error(`libsql server: database ${name} needs a file path`);
      const pool = new DatabasePool(name, resolvePath(file), opts.onQuiet ? { onQuiet: opts.onQuiet } : {});
      pools.set(name, pool);
      pool.checkpointer.onResult = failureReporter(name, log);
      await pool.init();
    }
  } catch (e) {
    for (const pool of pools.values()) pool.close();
    throw e;
  }

  let closing = false;
  let inflight = 0;
  const registry = new StreamRegistry(streamIdleMs, MAX_STREAMS, log);
  const ctx: PipelineContext = { registry, isClosing: () => closing, log };

  async function handlePipeline(req: IncomingMessage, res: ServerResponse, pool: DatabasePool): Promise<void> {
    let raw: Buffer;
    try {
      raw = await readBody(req, maxBodyBytes);
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        sendError(res, 413, "BODY_TOO_LARGE", `request body exceeds ${maxBodyBytes} bytes`, true);
        // Do not read the rest: drop the connection once the answer is out.
        res.on("finish", () => req.socket.destroySoon());
        return;
      }
      throw e;
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8"));
    } catch (e) {
      sendError(res, 400, "BODY_NOT_JSON", `request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const parsed = PipelineReqBodySchema.safeParse(json);
    if (!parsed.success) {
      sendError(res, 400, "BODY_INVALID", `request body is not a Hrana v2 pipeline request: ${describeZodError(parsed.error)}`);
      return;
    }
    const body = await runPipeline(ctx, pool, parsed.data);
    if (req.socket.destroyed) {
      // Nobody will ever send the new baton: do not let the stream hold its transaction until it expires.
      if (body.baton !== null) registry.abandon(body.baton);
      return;
    }
    sendBytes(res, 200, encodePipelineResponse(body));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const method = req.method ?? "GET";
    if (path === "/health") {
      if (method !== "GET" && method !== "HEAD") return sendError(res, 405, "METHOD_NOT_ALLOWED", "use GET /health");
      return sendJson(res, 200, { ok: true });
    }
    let name = opts.defaultDatabase;
    let rest = path;
    const db = /^\/db\/([^/]*)(\/.*)?$/.exec(path);
    if (db !== null) {
      let decoded: string;
      try {
        decoded = decodeURIComponent(db[1] ?? "");
      } catch {
        decoded = db[1] ?? "";
      }
      name = decoded;
      rest = db[2] ?? "/";
    }
    const pool = pools.get(name);
    if (pool === undefined) {
      return sendError(res, 404, "DATABASE_NOT_FOUND", `unknown database ${JSON.stringify(name)}; served: ${names.join(", ")}`);
    }
    if (/^\/v3(-protobuf)?(\/|$)/.test(rest)) {
      return sendError(res, 404, "NOT_FOUND", "Hrana 3 is not served here; use Hrana over HTTP v2 (/v2/pipeline)");
    }
    switch (rest) {
      case "/":
      case "/v2":
        if (method !== "GET" && method !== "HEAD") return sendError(res, 405, "METHOD_NOT_ALLOWED", `use GET ${path}`);
        return sendJson(res, 200, { database: name, version: 2 });
      case "/v2/pipeline":
        if (method !== "POST") return sendError(res, 405, "METHOD_NOT_ALLOWED", `use POST ${path}`);
        if (closing) return sendError(res, 503, "SERVER_CLOSING", "the server is shutting down", true);
        return handlePipeline(req, res, pool);
      default:
        return sendError(res, 404, "NOT_FOUND", `no such endpoint: ${method} ${path}`);
    }
  }

  const server: Server = createServer((req, res) => {
    inflight++;
    res.on("close", () => inflight--);
    handle(req, res).catch((e: unknown) => {
      if (e instanceof HttpError) {
        sendError(res, e.status, e.code, e.message);
        return;
      }
      log(`internal error on ${req.method ?? "?"} ${req.url ?? "?"}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      sendError(res, 500, "INTERNAL_ERROR", `internal server error: ${e instanceof Error ? e.message : String(e)}`);
    });
  });
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (e) {
    for (const pool of pools.values()) pool.close();
    throw e;
  }
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("libsql server: no TCP address after listen");
  const port = address.port;
  const origin = `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  log(`serving ${names.map((n) => `${n}=${pools.get(n)?.file ?? "?"}`).join(", ")} on ${origin}`);

  let closed: Promise<void> | undefined;
  return {
    port,
    url(name?: string): string {
      if (name === undefined || name === opts.defaultDatabase) return origin;
      if (!pools.has(name)) throw new Error(`libsql server: unknown database ${JSON.stringify(name)}`);
      return `${origin}/db/${encodeURIComponent(name)}/`;
    },
    close(): Promise<void> {
      closed ??= (async () => {
        closing = true;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Requests waiting out SQLITE_BUSY notice `closing` within one backoff step.
        for (let waited = 0; inflight > 0 && waited < 2_000; waited += 10) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        server.closeAllConnections();
        await stopped;
        registry.closeAll();
        for (const pool of pools.values()) pool.close();
      })();
      return closed;
    },
  };
}
