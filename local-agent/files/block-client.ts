/**
 * The agent's HTTP/1.1 client for block downloads. The kernel reads each response body straight
 * into a reused 1 MiB buffer (the socket's `onread`), in reads as large as the data waiting.
 *
 * Why not node:http: it reads 64 KiB at a time into a fresh buffer, runs each through its parser
 * and a stream, and leaves the pieces to the GC as external memory. On B5's 1 MiB files that was a
 * third of the receiving agent's time (profiled: socket data 200 ms, collections 117 ms of
 * ~1,050), and the receiving agent is what a transfer waits on. Only what a block download needs is
 * here: GET, a 200 with its bytes (by length, chunked or to the close), any other answer read off
 * and taken as "not here", keep-alive, TLS for https peers.
 */
import net from "node:net";
import tls from "node:tls";
import type { BlockBuffers } from "./block-buffers.js";
import type { BlockDownload } from "./fetch-block.js";

/** Headers and error bodies are read into a per-connection buffer of this size. */
const SCRATCH = 16 * 1024;
/** An error answer's body is read off (to keep the connection) up to this size. */
const ERROR_BODY_MAX = 64 * 1024;
/** An idle connection closes before the usual server keep-alive (Node's is 5 s). */
const IDLE_MS = 4_000;
const TIMEOUT_MS = 60_000;
const IDLE_PER_ORIGIN = 32;
const HEAD_END = Buffer.from("\r\n\r\n");

export interface BlockClientOptions {
  /** Extra TLS settings (tests pass the CA of their own certificate). */
  tls?: tls.ConnectionOptions;
  timeoutMs?: number;
}

/** How the body of the answer being read ends. */
type Framing = { kind: "length"; left: number } | { kind: "chunked" } | { kind: "close" };

interface Exchange {
  max: number;
  resolve(body: Buffer | null): void;
  reject(err: Error): void;
}

/** Thrown when a reused connection turned out closed before any byte of the answer: worth one retry. */
class StaleConnection extends Error {}

class Connection {
  readonly socket: net.Socket;
  private readonly scratch = Buffer.allocUnsafe(SCRATCH);
  private exchange: Exchange | null = null;
  /** Bytes of the answer's head in `scratch`, before its end was found. */
  private headLen = 0;
  private gotBytes = false;
  private ok = false;
  private keepAlive = false;
  private framing: Framing | null = null;
  /** The 200's body so far (`filled` bytes), or null while reading a head or an error body. */
  private body: Buffer | null = null;
  private filled = 0;
  private chunks: ChunkedDecoder | null = null;
  used = 0;
  closed = false;

  constructor(
    url: URL,
    private readonly buffers: BlockBuffers,
    private readonly timeoutMs: number,
    tlsOptions: tls.ConnectionOptions | undefined,
    private readonly onIdle: (c: Connection) => void,
  ) {
    const onread = { buffer: () => this.readInto(), callback: (n: number) => this.received(n) };
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
    // tls.connect takes `onread` too (Node's documentation), though its types do not say so.
    const secure: tls.ConnectionOptions & { onread: net.OnReadOpts } = { ...tlsOptions, host, port, servername: net.isIP(host) === 0 ? host : undefined, onread };
    this.socket = url.protocol === "https:" ? tls.connect(secure) : net.connect({ host, port, onread });
    this.socket.setNoDelay(true);
    this.socket.on("timeout", () => (this.exchange === null ? this.socket.destroy() : this.fail(new Error(`no answer for ${this.timeoutMs / 1000} s`))));
    this.socket.on("error", (err) => this.lost(err));
    this.socket.on("close", () => {
      this.closed = true;
      if (this.framing?.kind === "close" && this.body !== null) this.finish(this.body.subarray(0, this.filled));
      else this.lost(new Error("the connection closed before the answer was complete"));
    });
  }

  send(path: string, host: string, exchange: Exchange): void {
    this.used++;
    this.exchange = exchange;
    this.headLen = 0;
    this.gotBytes = false;
    this.socket.ref();
    this.socket.setTimeout(this.timeoutMs);
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept: application/octet-stream\r\n\r\n`);
  }

  /** Where the kernel puts the next read: the rest of a 200's body with a length, else the scratch buffer. */
  private readInto(): Buffer {
    if (this.body !== null && this.framing?.kind === "length") return this.body.subarray(this.filled);
    return this.scratch.subarray(this.headLen);
  }

  private received(n: number): boolean {
    this.gotBytes = true;
    try {
      if (this.exchange === null) throw new Error("the server sent bytes nobody asked for");
      if (this.framing === null) this.readHead(n);
      else if (this.body !== null && this.framing.kind === "length") {
        this.filled += n;
        this.framing.left -= n;
        if (this.framing.left === 0) this.finish(this.body);
      } else this.readBodyPart(this.scratch.subarray(0, n));
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
    return true;
  }

  private readHead(n: number): void {
    const from = Math.max(0, this.headLen - 3);
    this.headLen += n;
    const end = this.scratch.subarray(0, this.headLen).indexOf(HEAD_END, from);
    if (end < 0) {
      if (this.headLen === SCRATCH) throw new Error(`the answer's headers are over ${SCRATCH} bytes`);
      return;
    }
    const lines = this.scratch.toString("latin1", 0, end).split("\r\n");
    const status = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? "");
    if (status === null) throw new Error(`not an HTTP/1.x answer: ${JSON.stringify((lines[0] ?? "").slice(0, 60))}`);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const code = Number(status[2]);
    const rest = Buffer.from(this.scratch.subarray(end + 4, this.headLen));
    this.headLen = 0;
    // An informational answer (103 Early Hints) comes before the real one.
    if (code < 200) {
      if (rest.length > 0) this.readHeadFrom(rest);
      return;
    }
    const connection = (headers.get("connection") ?? "").toLowerCase();
    this.keepAlive = status[1] === "1" ? connection !== "close" : connection === "keep-alive";
    this.ok = code === 200;
    this.framing = framingOf(headers);
    // A body that ends with the connection leaves nothing to keep.
    if (this.framing.kind === "close") this.keepAlive = false;
    const max = this.exchange?.max ?? 0;
    if (this.framing.kind === "length" && this.framing.left > (this.ok ? max : ERROR_BODY_MAX)) {
      // Too big to take (a 200) or to read off (an error): not from this peer, and not on this connection.
      this.keepAlive = false;
      this.finish(null);
      return;
    }
    if (this.ok) {
      const size = this.framing.kind === "length" ? this.framing.left : max;
      this.body = size <= this.buffers.size ? this.buffers.take().subarray(0, size) : Buffer.allocUnsafe(size);
      this.filled = 0;
    } else if (this.framing.kind === "close") {
      this.finish(null);
      return;
    }
    if (this.framing.kind === "chunked") this.chunks = new ChunkedDecoder();
    if (this.framing.kind === "length" && this.framing.left === 0) this.finish(this.ok ? (this.body ?? Buffer.alloc(0)) : null);
    else if (rest.length > 0) this.readBodyPart(rest);
  }

  /** A head that began in the bytes after an informational answer's. */
  private readHeadFrom(bytes: Buffer): void {
    if (bytes.length > SCRATCH) throw new Error(`the answer's headers are over ${SCRATCH} bytes`);
    bytes.copy(this.scratch, 0);
    this.readHead(bytes.length);
  }

  /** Body bytes that came through the scratch buffer (or after the head). */
  private readBodyPart(bytes: Buffer): void {
    const framing = this.framing;
    if (framing === null) return;
    if (framing.kind === "length") {
      if (bytes.length > framing.left) throw new Error("the server sent more than the answer's length");
      framing.left -= bytes.length;
      if (this.body !== null) this.take(bytes);
      if (framing.left === 0) this.finish(this.ok ? this.body : null);
      return;
    }
    if (framing.kind === "close") {
      this.take(bytes);
      return;
    }
    const done = this.chunks?.feed(bytes, (data) => this.take(data)) ?? false;
    if (done) this.finish(this.body === null ? null : this.body.subarray(0, this.filled));
    else if (this.body === null && this.filled > ERROR_BODY_MAX) {
      this.keepAlive = false;
      this.finish(null);
    }
  }

  private take(data: Buffer): void {
    const body = this.body;
    // An error answer's body: only counted, read off to keep the connection.
    if (body === null) {
      this.filled += data.length;
      return;
    }
    if (this.filled + data.length > body.length) throw new Error(`the server sent more than ${body.length} bytes`);
    data.copy(body, this.filled);
    this.filled += data.length;
  }

  private finish(result: Buffer | null): void {
    const exchange = this.exchange;
    this.reset();
    if (exchange === null) return;
    if (this.keepAlive && !this.closed) {
      this.socket.setTimeout(IDLE_MS);
      this.socket.unref();
      this.onIdle(this);
    } else this.socket.destroy();
    exchange.resolve(result);
  }

  /** The connection failed: a kept one that did so before any byte of its answer was likely closed by the server while idle. */
  private lost(err: Error): void {
    this.fail(this.exchange !== null && !this.gotBytes && this.used > 1 ? new StaleConnection(err.message) : err);
  }

  private fail(err: Error): void {
    const exchange = this.exchange;
    if (this.body !== null) this.buffers.give(this.body);
    this.reset();
    this.socket.destroy();
    exchange?.reject(err);
  }

  private reset(): void {
    this.exchange = null;
    this.framing = null;
    this.body = null;
    this.chunks = null;
    this.filled = 0;
    this.headLen = 0;
  }
}

function framingOf(headers: Map<string, string>): Framing {
  if (/\bchunked\b/i.test(headers.get("transfer-encoding") ?? "")) return { kind: "chunked" };
  const length = headers.get("content-length");
  if (length === undefined) return { kind: "close" };
  if (!/^\d{1,15}$/.test(length)) throw new Error(`a content-length that is not a number: ${JSON.stringify(length.slice(0, 30))}`);
  return { kind: "length", left: Number(length) };
}

/** Undoes `Transfer-Encoding: chunked`, fed in pieces that may split anything anywhere. */
export class ChunkedDecoder {
  private state: "size" | "data" | "data-end" | "trailer" | "done" = "size";
  private line = "";
  private left = 0;

  /** Passes the data in `bytes` to `data`; true once the last chunk and trailers are read. */
  feed(bytes: Buffer, data: (b: Buffer) => void): boolean {
    let at = 0;
    while (at < bytes.length && this.state !== "done") {
      if (this.state === "data") {
        const n = Math.min(this.left, bytes.length - at);
        data(bytes.subarray(at, at + n));
        at += n;
        this.left -= n;
        if (this.left === 0) this.state = "data-end";
        continue;
      }
      const nl = bytes.indexOf(10, at);
      const end = nl < 0 ? bytes.length : nl + 1;
      this.line += bytes.toString("latin1", at, end);
      at = end;
      if (this.line.length > 1024) throw new Error("a chunk header over 1 KiB");
      if (nl < 0) continue;
      const line = this.line.replace(/\r?\n$/, "");
      this.line = "";
      if (this.state === "data-end") {
        if (line !== "") throw new Error("a chunk not followed by its line end");
        this.state = "size";
      } else if (this.state === "trailer") {
        if (line === "") this.state = "done";
      } else {
        const size = /^([0-9a-fA-F]{1,12})(?:;.*)?$/.exec(line.trim());
        if (size === null) throw new Error(`a chunk size that is not hex: ${JSON.stringify(line.slice(0, 30))}`);
        this.left = parseInt(size[1] ?? "0", 16);
        this.state = this.left === 0 ? "trailer" : "data";
      }
    }
    if (this.state === "done" && at < bytes.length) throw new Error("the server sent bytes after the last chunk");
    return this.state === "done";
  }
}

export class BlockClient implements BlockDownload {
  private readonly idle = new Map<string, Connection[]>();

  constructor(
    private readonly buffers: BlockBuffers,
    private readonly opts: BlockClientOptions = {},
  ) {}

  /**
   * GETs `url`: its body on a 200 of at most `max` bytes (a buffer from the pool when it fits one:
   * give it back once used), null on any other answer; throws when the peer cannot be reached,
   * cuts the answer short or times out.
   */
  async get(url: string, max: number): Promise<Buffer | null> {
    const target = new URL(url);
    if (target.protocol !== "http:" && target.protocol !== "https:") throw new Error(`not an http(s) URL: ${url}`);
    const path = `${target.pathname}${target.search}`;
    // A kept connection the server has closed meanwhile fails before any byte: once more on a new one.
    for (let attempt = 0; ; attempt++) {
      const conn = this.connection(target, attempt > 0);
      try {
        return await new Promise<Buffer | null>((resolve, reject) => conn.send(path, target.host, { max, resolve, reject }));
      } catch (err) {
        if (!(err instanceof StaleConnection) || attempt > 0) throw err;
      }
    }
  }

  /** `block`, from `get`, is used: its buffer may be reused. */
  release(block: Buffer): void {
    this.buffers.give(block);
  }

  /** Closes every kept connection. */
  close(): void {
    for (const conns of this.idle.values()) for (const c of conns) c.socket.destroy();
    this.idle.clear();
  }

  private connection(url: URL, fresh: boolean): Connection {
    const key = `${url.protocol}//${url.host}`;
    const kept = this.idle.get(key);
    for (let c = fresh ? undefined : kept?.pop(); c !== undefined; c = kept?.pop()) if (!c.closed) return c;
    return new Connection(url, this.buffers, this.opts.timeoutMs ?? TIMEOUT_MS, this.opts.tls, (c) => {
      const list = (this.idle.get(key) ?? []).filter((k) => !k.closed);
      if (list.length >= IDLE_PER_ORIGIN) return void c.socket.destroy();
      list.push(c);
      this.idle.set(key, list);
    });
  }
}
