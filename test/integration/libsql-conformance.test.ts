// Conformance of the embedded libSQL server with the real @libsql/client, in both the build
// the worker uses (`/web`) and the Node HTTP build (`/http`).

import { request as httpRequest } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient as createHttpClient } from "@libsql/client/http";
import { createClient as createWebClient, LibsqlError, type Client, type Config } from "@libsql/client/web";
import Database from "libsql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLibsqlServer, type LibsqlServer } from "../../local-agent/libsql-server/index.js";

const dir = mkdtempSync(join(tmpdir(), "libsql-conformance-"));
const appFile = join(dir, "app.db");
const stateFile = join(dir, "scoutsync.db");
let server: LibsqlServer;
/** A second server with tiny limits, for body size and stream expiry. */
let small: LibsqlServer;
const logs: string[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  server = await startLibsqlServer({
    databases: { app: appFile, state: stateFile },
    defaultDatabase: "app",
    port: 0,
    log: (line) => logs.push(line),
  });
  small = await startLibsqlServer({
    databases: { app: join(dir, "small.db") },
    defaultDatabase: "app",
    maxBodyBytes: 64 * 1024,
    streamIdleMs: 150,
  });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.close();
  await small?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type Factory = (config: Config) => Client;
const factories: [string, Factory][] = [
  ["web", createWebClient],
  ["http", createHttpClient as Factory],
];

function client(create: Factory, url: string, config: Partial<Config> = {}): Client {
  const c = create({ url, ...config });
  clients.push(c);
  return c;
}

async function post(base: string, path: string, body: string): Promise<{ status: number; type: string | null; json: Record<string, unknown> }> {
  const res = await fetch(new URL(path, base), { method: "POST", headers: { "content-type": "application/json" }, body });
  return { status: res.status, type: res.headers.get("content-type"), json: (await res.json()) as Record<string, unknown> };
}

async function pipeline(base: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const { status, json } = await post(base, "v2/pipeline", JSON.stringify(body));
  return { status, json };
}

describe.each(factories)("@libsql/client/%s", (kind, create) => {
  const t = `t_${kind}`;

  it("creates a table and binds positional and named parameters", async () => {
    const c = client(create, server.url());
    await c.execute(`CREATE TABLE ${t}(id INTEGER PRIMARY KEY, name TEXT, n INTEGER)`);
    const ins = await c.execute({ sql: `INSERT INTO ${t}(name, n) VALUES (?, ?)`, args: ["pos", 1] });
    expect(ins.rowsAffected).toBe(1);
    expect(ins.lastInsertRowid).toBe(1n);
    await c.execute({ sql: `INSERT INTO ${t}(name, n) VALUES (:name, $n)`, args: { name: "bare", n: 2 } });
    await c.execute({ sql: `INSERT INTO ${t}(name, n) VALUES (:name, @n)`, args: { ":name": "prefixed", "@n": 3 } });
    const rs = await c.execute({ sql: `SELECT name, n FROM ${t} WHERE n >= ? ORDER BY n`, args: [1] });
    expect(rs.columns).toEqual(["name", "n"]);
    expect(rs.columnTypes).toEqual(["TEXT", "INTEGER"]);
    expect(rs.rows.map((r) => [r.name, r.n])).toEqual([
      ["pos", 1],
      ["bare", 2],
      ["prefixed", 3],
    ]);
  });

  it("round-trips every value type", async () => {
    const c = client(create, server.url(), { intMode: "bigint" });
    await c.execute(`CREATE TABLE ${t}_values(k TEXT, v)`);
    const big = 2n ** 53n + 1n;
    const blob = new Uint8Array(5 * 1024 * 1024);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 7919) % 251;
    const text = "héllo — 日本語 — 🐢 — \u2028 — \"quoted\" \\ '";
    const values: [string, unknown][] = [
      ["null", null],
      ["big", big],
      ["max", 9223372036854775807n],
      ["min", -9223372036854775808n],
      ["float", 2.0],
      ["fraction", -1.25],
      ["text", text],
      ["blob", blob],
    ];
    for (const [k, v] of values) {
      await c.execute({ sql: `INSERT INTO ${t}_values VALUES (?, ?)`, args: [k, v as null] });
    }
    const rs = await c.execute(`SELECT k, v, typeof(v) AS type FROM ${t}_values ORDER BY rowid`);
    const got = new Map(rs.rows.map((r) => [String(r.k), { v: r.v, type: r.type }]));
    expect(got.get("null")).toEqual({ v: null, type: "null" });
    expect(got.get("big")).toEqual({ v: big, type: "integer" });
    expect(got.get("max")).toEqual({ v: 9223372036854775807n, type: "integer" });
    expect(got.get("min")).toEqual({ v: -9223372036854775808n, type: "integer" });
    expect(got.get("float")).toEqual({ v: 2, type: "real" });
    expect(got.get("fraction")).toEqual({ v: -1.25, type: "real" });
    expect(got.get("text")).toEqual({ v: text, type: "text" });
    const gotBlob = got.get("blob");
    expect(gotBlob?.type).toBe("blob");
    expect(Buffer.from(gotBlob?.v as ArrayBuffer).equals(Buffer.from(blob))).toBe(true);
    // Integers compare exactly on the server side too.
    const exact = await c.execute({ sql: `SELECT count(*) AS n FROM ${t}_values WHERE v = ?`, args: [big] });
    expect(exact.rows[0]?.n).toBe(1n);
  });

  it("rolls a write batch back entirely when a later statement fails", async () => {
    const c = client(create, server.url());
    await c.execute(`CREATE TABLE ${t}_batch(x INTEGER UNIQUE)`);
    const ok = await c.batch([`INSERT INTO ${t}_batch VALUES (1)`, `SELECT count(*) AS n FROM ${t}_batch`], "write");
    expect(ok[1]?.rows[0]?.n).toBe(1);
    const failed = await c
      .batch([`INSERT INTO ${t}_batch VALUES (2)`, `INSERT INTO ${t}_batch VALUES (3)`, `INSERT INTO ${t}_batch VALUES (1)`], "write")
      .then(() => undefined, (e: unknown) => e);
    expect(failed).toBeInstanceOf(LibsqlError);
    expect((failed as LibsqlError).code).toBe("SQLITE_CONSTRAINT_UNIQUE");
    const rs = await c.execute(`SELECT x FROM ${t}_batch ORDER BY x`);
    expect(rs.rows.map((r) => r.x)).toEqual([1]);
  });

  it("runs interactive transactions: commit keeps, rollback discards, others do not see uncommitted rows", async () => {
    const c = client(create, server.url());
    const observer = client(create, server.url());
    await c.execute(`CREATE TABLE ${t}_tx(x)`);
    const tx = await c.transaction("write");
    await tx.execute({ sql: `INSERT INTO ${t}_tx VALUES (?)`, args: ["committed"] });
    expect((await tx.execute(`SELECT count(*) AS n FROM ${t}_tx`)).rows[0]?.n).toBe(1);
    expect((await observer.execute(`SELECT count(*) AS n FROM ${t}_tx`)).rows[0]?.n).toBe(0);
    await tx.commit();
    const rb = await c.transaction("write");
    await rb.batch([`INSERT INTO ${t}_tx VALUES ('gone1')`, `INSERT INTO ${t}_tx VALUES ('gone2')`]);
    await rb.rollback();
    const rs = await observer.execute(`SELECT x FROM ${t}_tx`);
    expect(rs.rows.map((r) => r.x)).toEqual(["committed"]);
  });

  it("reports invalid SQL as a LibsqlError with a code and keeps serving", async () => {
    const c = client(create, server.url());
    for (const [sql, code] of [
      ["SELEC 1", "SQLITE_ERROR"],
      ["SELECT * FROM no_such_table", "SQLITE_ERROR"],
      ["SELECT 1; SELECT 2", "SQL_MANY_STATEMENTS"],
    ] as const) {
      const e = await c.execute(sql).then(() => undefined, (err: unknown) => err);
      expect(e).toBeInstanceOf(LibsqlError);
      expect((e as LibsqlError).code).toBe(code);
    }
    expect((await c.execute("SELECT 41 + 1 AS v")).rows[0]?.v).toBe(42);
  });

  it("runs executeMultiple as a sequence", async () => {
    const c = client(create, server.url());
    await c.executeMultiple(`
      CREATE TABLE ${t}_seq(x);
      CREATE TRIGGER ${t}_seq_tr AFTER INSERT ON ${t}_seq BEGIN
        UPDATE ${t}_seq SET x = x * 10 WHERE rowid = new.rowid;
      END;
      INSERT INTO ${t}_seq VALUES (1);
    `);
    expect((await c.execute(`SELECT x FROM ${t}_seq`)).rows[0]?.x).toBe(10);
  });

  it("serves the second database at url(\"state\")", async () => {
    const state = client(create, server.url("state"));
    await state.execute(`CREATE TABLE ${t}_peers(name TEXT)`);
    await state.execute({ sql: `INSERT INTO ${t}_peers VALUES (?)`, args: ["site-b"] });
    expect((await state.execute(`SELECT name FROM ${t}_peers`)).rows[0]?.name).toBe("site-b");
    const app = client(create, server.url());
    const e = await app.execute(`SELECT * FROM ${t}_peers`).then(() => undefined, (err: unknown) => err);
    expect((e as LibsqlError).message).toMatch(/no such table/);
    const direct = new Database(stateFile);
    try {
      expect(direct.prepare(`SELECT name FROM ${t}_peers`).raw(true).all()).toEqual([["site-b"]]);
    } finally {
      direct.close();
    }
  });

  it("keeps every row of 20 concurrent clients, with interleaved write transactions", async () => {
    const setup = client(create, server.url());
    await setup.execute(`CREATE TABLE ${t}_conc(client INTEGER, k INTEGER)`);
    const many = Array.from({ length: 20 }, () => client(create, server.url()));
    await Promise.all(
      many.map(async (c, i) => {
        for (let k = 0; k < 5; k++) await c.execute({ sql: `INSERT INTO ${t}_conc VALUES (?, ?)`, args: [i, k] });
        const tx = await c.transaction("write");
        await tx.execute({ sql: `INSERT INTO ${t}_conc VALUES (?, ?)`, args: [i, 100] });
        await tx.execute({ sql: `INSERT INTO ${t}_conc VALUES (?, ?)`, args: [i, 101] });
        await tx.commit();
        await c.batch([{ sql: `INSERT INTO ${t}_conc VALUES (?, ?)`, args: [i, 200] }], "write");
      }),
    );
    const rs = await setup.execute(`SELECT count(*) AS n, count(DISTINCT client) AS c FROM ${t}_conc`);
    expect(rs.rows[0]?.n).toBe(20 * 8);
    expect(rs.rows[0]?.c).toBe(20);
  });

  it("waits out another connection's write lock (SQLITE_BUSY) and then writes", async () => {
    const c = client(create, server.url());
    await c.execute(`CREATE TABLE ${t}_busy(who TEXT)`);
    for (const attempt of ["execute", "batch", "transaction"] as const) {
      const holder = new Database(appFile);
      try {
        holder.exec("BEGIN IMMEDIATE");
        holder.exec(`INSERT INTO ${t}_busy VALUES ('holder-${attempt}')`);
        const release = sleep(200).then(() => holder.exec("COMMIT"));
        if (attempt === "execute") {
          await c.execute(`INSERT INTO ${t}_busy VALUES ('server-${attempt}')`);
        } else if (attempt === "batch") {
          await c.batch([`INSERT INTO ${t}_busy VALUES ('server-${attempt}')`], "write");
        } else {
          const tx = await c.transaction("write");
          await tx.execute(`INSERT INTO ${t}_busy VALUES ('server-${attempt}')`);
          await tx.commit();
        }
        await release;
      } finally {
        if (holder.inTransaction) holder.exec("ROLLBACK");
        holder.close();
      }
    }
    const rs = await c.execute(`SELECT who FROM ${t}_busy ORDER BY rowid`);
    expect(rs.rows.map((r) => r.who)).toEqual([
      "holder-execute",
      "server-execute",
      "holder-batch",
      "server-batch",
      "holder-transaction",
      "server-transaction",
    ]);
  });

  it("reports an expired stream to the client", async () => {
    const c = client(create, small.url());
    await c.execute(`CREATE TABLE IF NOT EXISTS ${t}_exp(x)`);
    const tx = await c.transaction("write");
    await tx.execute(`INSERT INTO ${t}_exp VALUES (1)`);
    await sleep(1_000);
    const e = await tx.execute(`INSERT INTO ${t}_exp VALUES (2)`).then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(LibsqlError);
    expect((e as LibsqlError).code).toBe("STREAM_EXPIRED");
    tx.close();
    // The expired transaction was rolled back and its write lock released.
    await c.execute(`INSERT INTO ${t}_exp VALUES (3)`);
    expect((await c.execute(`SELECT x FROM ${t}_exp`)).rows.map((r) => r.x)).toEqual([3]);
  });
});

describe("HTTP surface", () => {
  it("answers health, version probes and URLs", async () => {
    const health = await fetch(new URL("/health", server.url()));
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
    expect((await fetch(new URL("v2", server.url()))).status).toBe(200);
    expect((await fetch(new URL("v2", server.url("state")))).status).toBe(200);
    for (const probe of ["v3", "v3-protobuf", "v3/pipeline"]) {
      const res = await fetch(new URL(probe, server.url()));
      expect(res.status).toBe(404);
      await res.arrayBuffer();
    }
    expect(server.url()).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.url("app")).toBe(server.url());
    expect(server.url("state")).toBe(`http://127.0.0.1:${server.port}/db/state/`);
    const unknown = await post(server.url(), "/db/nope/v2/pipeline", JSON.stringify({ baton: null, requests: [] }));
    expect(unknown.status).toBe(404);
    expect(String(unknown.json.error)).toMatch(/unknown database "nope"/);
  });

  it("refuses malformed bodies with 400 and a JSON reason, and keeps serving", async () => {
    const cases: [string, RegExp][] = [
      ["this is not json", /not valid JSON/],
      [JSON.stringify({ baton: null, requests: { type: "execute" } }), /requests: /],
      [JSON.stringify({ baton: null, requests: [{ type: "teleport" }] }), /requests\[0\]\.type: Invalid discriminator/],
      [JSON.stringify({ requests: [{ type: "execute", stmt: { sql: "SELECT ?", args: [{ type: "integer", value: "1e3" }] } }] }), /args\[0\]\.value/],
      [
        JSON.stringify({ requests: [{ type: "batch", batch: { steps: [{ stmt: { sql: "SELECT ?, ?", args: [{ type: "null" }, { type: "integer", value: "9223372036854775808" }] } }] } }] }),
        /requests\[0\]\.batch\.steps\[0\]\.stmt\.args\[1\]\.value: expected a 64-bit integer as a decimal string/,
      ],
      [JSON.stringify({ requests: [{ type: "execute", stmt: { sql: "SELECT ?", args: [{ type: "blob", base64: "%%" }] } }] }), /args\[0\]\.base64: expected base64/],
      [
        JSON.stringify({ requests: [{ type: "execute", stmt: { sql: "SELECT :a", named_args: [{ name: "a", value: { type: "date", value: "today" } }] } }] }),
        /named_args\[0\]\.value\.type: expected type null, integer, float, text or blob, got "date"/,
      ],
      [JSON.stringify(null), /expected object/],
    ];
    for (const [body, reason] of cases) {
      const res = await post(server.url(), "v2/pipeline", body);
      expect(res.status).toBe(400);
      expect(res.type).toBe("application/json");
      expect(String(res.json.error)).toMatch(reason);
      const ok = await pipeline(server.url(), { baton: null, requests: [{ type: "execute", stmt: { sql: "SELECT 1" } }, { type: "close" }] });
      expect(ok.status).toBe(200);
    }
    const wrongMethod = await fetch(new URL("v2/pipeline", server.url()));
    expect(wrongMethod.status).toBe(405);
    await wrongMethod.arrayBuffer();
  });

  it("answers SQL errors inside a 200 pipeline response", async () => {
    const res = await pipeline(server.url(), {
      baton: null,
      requests: [
        { type: "execute", stmt: { sql: "SELECT * FROM missing_table" } },
        { type: "execute", stmt: { sql: "SELECT 1" } },
        { type: "close" },
        { type: "execute", stmt: { sql: "SELECT 2" } },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.json.baton).toBeNull();
    const results = res.json.results as { type: string; error?: { code: string } }[];
    expect(results.map((r) => r.type)).toEqual(["error", "ok", "ok", "error"]);
    expect(results[0]?.error?.code).toBe("SQLITE_ERROR");
    expect(results[3]?.error?.code).toBe("STREAM_CLOSED");
  });

  it("refuses used, forged and expired batons with 400", async () => {
    const first = await pipeline(small.url(), { baton: null, requests: [{ type: "execute", stmt: { sql: "SELECT 1" } }] });
    const b1 = first.json.baton as string;
    expect(typeof b1).toBe("string");
    const second = await pipeline(small.url(), { baton: b1, requests: [] });
    expect(second.status).toBe(200);
    const b2 = second.json.baton as string;
    expect(b2).not.toBe(b1);
    const reused = await pipeline(small.url(), { baton: b1, requests: [] });
    expect(reused.status).toBe(400);
    expect(String(reused.json.error)).toMatch(/already used/);
    const forged = await pipeline(small.url(), { baton: "x".repeat(32), requests: [] });
    expect(forged.status).toBe(400);
    await sleep(1_000);
    const expired = await pipeline(small.url(), { baton: b2, requests: [] });
    expect(expired.status).toBe(400);
    expect(String(expired.json.error)).toMatch(/expired/);
  });

  it("closes the stream of a client that leaves while its request waits out SQLITE_BUSY", async () => {
    const setup = client(createWebClient, server.url());
    await setup.execute("CREATE TABLE t_abandon(x)");
    const holder = new Database(appFile);
    try {
      holder.exec("BEGIN IMMEDIATE");
      const ac = new AbortController();
      const body = {
        baton: null,
        requests: [
          {
            type: "batch",
            batch: { steps: [{ stmt: { sql: "BEGIN IMMEDIATE" } }, { condition: { type: "ok", step: 0 }, stmt: { sql: "INSERT INTO t_abandon VALUES (1)" } }] },
          },
        ],
      };
      const pending = fetch(new URL("v2/pipeline", server.url()), { method: "POST", body: JSON.stringify(body), signal: ac.signal }).catch(() => "aborted");
      await sleep(100);
      ac.abort();
      expect(await pending).toBe("aborted");
      holder.exec("ROLLBACK");
      // The server now gets the lock, opens the transaction, finds its client gone and rolls back,
      // instead of holding the lock until the stream expires (30 s).
      await sleep(300);
      for (let waited = 0; ; waited += 20) {
        try {
          holder.exec("BEGIN IMMEDIATE; INSERT INTO t_abandon VALUES (2); COMMIT");
          break;
        } catch (e) {
          if (holder.inTransaction) holder.exec("ROLLBACK");
          if (waited > 5_000) throw e;
          await sleep(20);
        }
      }
      expect(holder.prepare("SELECT x FROM t_abandon").raw(true).all()).toEqual([[2]]);
    } finally {
      if (holder.inTransaction) holder.exec("ROLLBACK");
      holder.close();
    }
  });

  it("refuses bodies over maxBodyBytes with 413", async () => {
    const big = JSON.stringify({ baton: null, requests: [{ type: "execute", stmt: { sql: `SELECT '${"x".repeat(200 * 1024)}'` } }] });
    const res = await post(small.url(), "v2/pipeline", big);
    expect(res.status).toBe(413);
    expect(String(res.json.error)).toMatch(/exceeds 65536 bytes/);
    // Without a content-length (chunked), the limit applies while reading.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(new URL("v2/pipeline", small.url()), { method: "POST", headers: { "content-type": "application/json" } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on("error", reject);
      for (let i = 0; i < 10; i++) req.write("x".repeat(16 * 1024));
      req.end();
    });
    expect(chunked).toBe(413);
    expect((await fetch(new URL("/health", small.url()))).status).toBe(200);
  });
});

describe("startLibsqlServer options", () => {
  it("refuses non-loopback hosts and unknown default databases", async () => {
    await expect(startLibsqlServer({ databases: { app: join(dir, "x.db") }, defaultDatabase: "app", host: "0.0.0.0" })).rejects.toThrow(/loopback/);
    await expect(startLibsqlServer({ databases: { app: join(dir, "x.db") }, defaultDatabase: "other" })).rejects.toThrow(/default database/);
  });

  it("opens files in WAL mode, synchronous NORMAL, foreign keys off", async () => {
    const direct = new Database(appFile);
    try {
      expect(direct.prepare("PRAGMA journal_mode").raw(true).all()).toEqual([["wal"]]);
    } finally {
      direct.close();
    }
    for (const url of [server.url(), server.url("state")]) {
      const c = client(createWebClient, url);
      const rs = await c.batch(["PRAGMA journal_mode", "PRAGMA synchronous", "PRAGMA foreign_keys", "PRAGMA busy_timeout"], "read");
      expect(rs.map((r) => Object.values(r.rows[0] ?? {})[0])).toEqual(["wal", 1, 0, 0]);
    }
    expect(logs.some((l) => l.includes("serving app="))).toBe(true);
  });

  it("creates missing database files", async () => {
    const fresh = join(dir, "created-on-start.db");
    const s = await startLibsqlServer({ databases: { only: fresh }, defaultDatabase: "only" });
    try {
      const c = client(createHttpClient as Factory, s.url());
      await c.execute("CREATE TABLE x(y)");
      const direct = new Database(fresh);
      try {
        expect(direct.prepare("SELECT name FROM sqlite_schema").raw(true).all()).toEqual([["x"]]);
      } finally {
        direct.close();
      }
    } finally {
      await s.close();
    }
  });
});
