/**
 * Three real sites on loopback (embedded libSQL server, worker under Miniflare, agent), linked in
 * a full mesh. The app's writes come from separate connections to each site's file, as a Flask
 * app would make them: python3's sqlite3 (SQLite 3.40 here), the sqlite3 shell, and libsql.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { request } from "node:http";
import path from "node:path";
import Database from "libsql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkIntegrity, logicalDump, type LogicalDump } from "../support/logical-dump.js";
import { MAX_CHANGES_PER_BATCH } from "../../functions/wire/database.js";
import { retryStale } from "../../local-agent/http.js";
import { Site, sweep, tempRoot, waitUntil } from "./site-harness.js";

interface Running {
  name: string;
  site: Site;
  port: number;
  db: string;
  token: string;
}

const sites: Running[] = [];

function python(file: string, script: string): void {
  execFileSync("python3", ["-c", `import sqlite3, sys\ncon = sqlite3.connect(sys.argv[1], timeout=10)\n${script}\ncon.commit()\ncon.close()`, file], { stdio: "pipe" });
}

function shell(file: string, sql: string): void {
  execFileSync("sqlite3", ["-cmd", ".timeout 10000", file, sql], { stdio: "pipe" });
}

function read(file: string): InstanceType<typeof Database> {
  const db = new Database(file, { readonly: true });
  db.exec("PRAGMA busy_timeout = 5000");
  return db;
}

function dumpOf(s: Running): LogicalDump {
  const db = read(s.db);
  try {
    return logicalDump(db);
  } finally {
    db.close();
  }
}

function rowsOf(s: Running, sql: string): unknown[][] {
  const db = read(s.db);
  try {
    return db.prepare(sql).raw(true).all() as unknown[][];
  } finally {
    db.close();
  }
}

async function api(s: Running, method: string, p: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await retryStale(() =>
    fetch(`http://127.0.0.1:${s.port}${p}`, {
      method,
      headers: { authorization: `Bearer ${s.token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Sends only the headers of a request that declares a huge body: the answer comes before any byte of it. */
function declaredTooLarge(port: number, p: string, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: p, method: "POST", headers: { "content-type": "application/json", "content-length": String(bytes) } });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on("error", reject);
    req.flushHeaders();
  });
}

/** All three sites hold the same logical content (rows keyed by identity, foreign keys by parent identity). */
async function converged(what: string, timeoutMs = 30_000): Promise<LogicalDump> {
  let last = "";
  return waitUntil(
    `${what}: all sites identical`,
    () => {
      const dumps = sites.map(dumpOf);
      const texts = dumps.map((d) => JSON.stringify(d));
      last = texts.join("\n");
      return texts.every((t) => t === texts[0]) ? dumps[0] : undefined;
    },
    timeoutMs,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${last.slice(0, 4000)}`);
  });
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS teams (id INTEGER PRIMARY KEY AUTOINCREMENT, number INTEGER NOT NULL, name TEXT, city TEXT);
CREATE TABLE IF NOT EXISTS matches (id INTEGER PRIMARY KEY, label TEXT NOT NULL, red TEXT, blue TEXT);
CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY, match_id INTEGER REFERENCES matches(id), team INTEGER, auto REAL, teleop INTEGER, endgame TEXT, scout TEXT, note TEXT);
CREATE TABLE IF NOT EXISTS pit_notes (team INTEGER NOT NULL, author TEXT NOT NULL, note TEXT, photo BLOB, PRIMARY KEY (team, author)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT);
`;

beforeAll(async () => {
  const root = tempRoot("dbsync");
  for (const name of ["a", "b", "c"]) {
    const dir = path.join(root, name);
    execFileSync("mkdir", ["-p", path.join(dir, "data")]);
    // The app created its database (with rows) before scoutsync ever ran on this laptop.
    python(path.join(dir, "data", "app.db"), `con.executescript(${JSON.stringify(SCHEMA)})\ncon.execute("INSERT INTO settings VALUES ('event_${name}', '2026${name}')")`);
    const { site, port } = await Site.start(dir, name);
    const token = readFileSync(path.join(dir, "data", "admin-token"), "utf8").trim();
    sites.push({ name, site, port, db: path.join(dir, "data", "app.db"), token });
  }
  for (const s of sites) {
    for (const other of sites) {
      if (other === s) continue;
      const res = await api(s, "POST", "/api/admin/peers", { url: `http://127.0.0.1:${other.port}`, name: other.name });
      expect(res.status).toBe(201);
    }
  }
}, 180_000);

afterAll(async () => {
  for (const s of sites) s.site.signal("SIGINT");
  await Promise.allSettled(sites.map((s) => s.site.waitForExit(20_000)));
  sweep();
});

describe("three sites, writes by separate processes", () => {
  it("the worker's libSQL client passes the conformance self-test from inside workerd", async () => {
    const res = await api(sites[0]!, "POST", "/api/admin/selftest");
    expect(res.json).toMatchObject({ ok: true });
    expect((res.json.checks as unknown[]).length).toBeGreaterThanOrEqual(6);
    const denied = await fetch(`http://127.0.0.1:${sites[0]!.port}/api/admin/selftest`, { method: "POST" });
    expect(denied.status).toBe(403);
  });

  it("pre-existing rows of every site reach the others", async () => {
    const dump = await converged("initial sync");
    expect(dump.settings!.rows.map((r) => r.values)).toHaveLength(3);
  });

  it("concurrent inserts with colliding integer ids all survive, children keep their parents", async () => {
    const [a, b, c] = sites as [Running, Running, Running];
    // Every site's app creates match 1 and an entry pointing at it in the same instant: three
    // transactions are open at once (so each app picks id 1), then all commit.
    const script = `
import sqlite3, sys
cons = [sqlite3.connect(f, timeout=10) for f in sys.argv[1:]]
rows = [("Q1 at A", 254, "ana", "Cheesy Poofs"), ("Q1 at B", 1678, "ben", "Citrus Circuits"), ("Q1 at C", 118, "cai", "ünïcödé ✓")]
for con, (label, team, scout, name) in zip(cons, rows):
    con.execute("BEGIN IMMEDIATE")
    mid = con.execute("INSERT INTO matches (label) VALUES (?)", (label,)).lastrowid
    con.execute("INSERT INTO entries (match_id, team, auto, teleop, scout, note) VALUES (?, ?, 2.0, 12, ?, ?)", (mid, team, scout, name))
    con.execute("INSERT INTO teams (number, name) VALUES (?, ?)", (team, name))
for con in cons:
    con.commit()
`;
    execFileSync("python3", ["-c", script, a.db, b.db, c.db], { stdio: "pipe" });
    for (const s of sites) expect(rowsOf(s, "SELECT id FROM matches")).toContainEqual([1]);
    await converged("colliding inserts");
    for (const s of sites) {
      expect(rowsOf(s, "SELECT label FROM matches ORDER BY label")).toEqual([["Q1 at A"], ["Q1 at B"], ["Q1 at C"]]);
      // Each entry still points at the match of the site that wrote it.
      expect(rowsOf(s, "SELECT e.scout, m.label FROM entries e JOIN matches m ON m.id = e.match_id ORDER BY e.scout")).toEqual([
        ["ana", "Q1 at A"],
        ["ben", "Q1 at B"],
        ["cai", "Q1 at C"],
      ]);
      expect(rowsOf(s, "SELECT count(*) FROM teams")).toEqual([[3]]);
      const db = read(s.db);
      expect(checkIntegrity(db)).toEqual([]);
      db.close();
    }
  });

  it("concurrent edits of different columns merge; of the same column, one value wins everywhere", async () => {
    const [a, b, c] = sites as [Running, Running, Running];
    python(a.db, `con.execute("UPDATE teams SET city = 'San Jose' WHERE number = 254")`);
    python(b.db, `con.execute("UPDATE teams SET name = 'The Cheesy Poofs' WHERE number = 254")`);
    python(a.db, `con.execute("UPDATE teams SET city = 'Woodland' WHERE number = 1678")`);
    shell(c.db, "UPDATE teams SET city = 'Davis' WHERE number = 1678;");
    await converged("concurrent edits");
    for (const s of sites) expect(rowsOf(s, "SELECT name, city FROM teams WHERE number = 254")).toEqual([["The Cheesy Poofs", "San Jose"]]);
    const cities = sites.map((s) => rowsOf(s, "SELECT city FROM teams WHERE number = 1678")[0]![0]);
    expect(["Woodland", "Davis"]).toContain(cities[0]);
    expect(new Set(cities).size).toBe(1);
  });

  it("deletes propagate; blobs, reals and composite keys round-trip", async () => {
    const [a, b] = sites as [Running, Running, Running];
    python(b.db, `con.execute("INSERT INTO pit_notes VALUES (254, 'ben', 'swerve', ?)", (bytes(range(256)) * 40,))\ncon.execute("DELETE FROM entries WHERE scout = 'cai'")`);
    python(a.db, `con.execute("INSERT INTO pit_notes VALUES (1678, 'ana', 'tank', x'00ff')")`);
    await converged("deletes and blobs");
    for (const s of sites) {
      expect(rowsOf(s, "SELECT scout FROM entries ORDER BY scout")).toEqual([["ana"], ["ben"]]);
      expect(rowsOf(s, "SELECT team, author, length(photo), typeof(photo) FROM pit_notes ORDER BY team")).toEqual([
        [254, "ben", 10240, "blob"],
        [1678, "ana", 2, "blob"],
      ]);
      expect(rowsOf(s, "SELECT auto, typeof(auto) FROM entries WHERE scout = 'ana'")).toEqual([[2, "real"]]);
    }
  });

  it("a new table and a new column mid-run are picked up without restarting anything", async () => {
    const [a, b, c] = sites as [Running, Running, Running];
    // Site A's app migrates first and writes into the new table and column at once.
    python(a.db, `con.executescript("CREATE TABLE alliances (id INTEGER PRIMARY KEY, captain INTEGER, picks TEXT); ALTER TABLE teams ADD COLUMN rookie_year INTEGER;")\ncon.execute("INSERT INTO alliances (captain, picks) VALUES (254, '1678,118')")\ncon.execute("UPDATE teams SET rookie_year = 1997 WHERE number = 254")`);
    // The others migrate a moment later; the rows and values wait for them, then land.
    await waitUntil("site A captured the new table", () => rowsOf(a, "SELECT count(*) FROM _scoutsync_rows WHERE tbl = 'alliances'")[0]![0] === 1);
    for (const s of [b, c]) python(s.db, `con.executescript("CREATE TABLE alliances (id INTEGER PRIMARY KEY, captain INTEGER, picks TEXT); ALTER TABLE teams ADD COLUMN rookie_year INTEGER;")`);
    await converged("schema evolution");
    for (const s of sites) {
      expect(rowsOf(s, "SELECT captain, picks FROM alliances")).toEqual([[254, "1678,118"]]);
      expect(rowsOf(s, "SELECT rookie_year FROM teams WHERE number = 254")).toEqual([[1997]]);
    }
  });

  it("a table every app drops (a migration) fails no capture and no apply: later writes still sync", async () => {
    const [a, b, c] = sites as [Running, Running, Running];
    // A table of its own, without rows: nothing of it is left to park once it is gone everywhere.
    for (const s of sites) python(s.db, `con.execute("CREATE TABLE draft_picks (id INTEGER PRIMARY KEY, team INTEGER)")`);
    for (const s of sites) await waitUntil(`site ${s.name} marked the new table`, () => rowsOf(s, "SELECT count(*) FROM _scoutsync_hw WHERE tbl = 'draft_picks'")[0]![0] === 1);
    const before = sites.map((s) => s.site.out.length);
    for (const s of sites) python(s.db, `con.execute("DROP TABLE draft_picks")`);
    python(a.db, `con.execute("INSERT INTO teams (number, name) VALUES (9999, 'after the drop')")`);
    shell(b.db, "INSERT INTO teams (number, name) VALUES (9998, 'after the drop, on B')");
    await converged("writes after a dropped table");
    for (const s of [a, b, c]) expect(rowsOf(s, "SELECT number FROM teams WHERE name LIKE 'after the drop%' ORDER BY number")).toEqual([[9998], [9999]]);
    sites.forEach((s, i) => expect(s.site.out.slice(before[i]), `${s.name} logged no failure`).not.toMatch(/failed/));
  });

  it("a burst a site receives reaches its app's database file: the libSQL server's thread copies the WAL back", async () => {
    // 1,500 pages: more than the ~1,000 a WAL may hold before the thread copies it back.
    const [a, ...receivers] = sites as [Running, Running, Running];
    // Only a checkpoint grows the database file itself; nothing but that thread checkpoints the receivers' files.
    const before = receivers.map((s) => statSync(s.db).size);
    python(a.db, `con.executemany("INSERT INTO pit_notes VALUES (?, 'burst', 'photo', randomblob(4000))", [(10000 + i,) for i in range(1500)])`);
    await converged("a burst of photos");
    for (const [i, s] of receivers.entries()) {
      await waitUntil(`site ${s.name}'s app.db holds the photos`, () => statSync(s.db).size - before[i]! >= 1500 * 4000);
    }
  });

  it("status reports each peer online with nothing parked", async () => {
    const res = await api(sites[0]!, "GET", "/api/admin/status");
    expect(res.status).toBe(200);
    expect(res.json.parked).toBe(0);
    const peers = res.json.peers as { online: boolean; pending: number }[];
    expect(peers).toHaveLength(2);
    await waitUntil("peers online", async () => ((await api(sites[0]!, "GET", "/api/admin/status")).json.peers as { online: boolean }[]).every((p) => p.online));
  });
});

describe("bad input on the database endpoints", () => {
  const change = (t: string, vals: Record<string, unknown>) => ({
    t,
    g: "0123456789abcdef.900",
    s: { ins: "0000000000010000" + "0123456789abcdef", clk: {}, del: null, vals },
  });

  it("malformed batches get 400 with a reason and change nothing", async () => {
    const a = sites[0]!;
    const before = JSON.stringify(dumpOf(a));
    const cases: [unknown, RegExp][] = [
      ["{not json", /not valid JSON/],
      [{ from: "0123456789abcdef" }, /changes/],
      [{ from: "nope", changes: [] }, /from/],
      [{ from: "0123456789abcdef", changes: [change("teams", { number: { i: "12x" } })] }, /changes\.0\.s\.vals\.number/],
      [{ from: "0123456789abcdef", changes: [{ ...change("teams", {}), s: { ins: "late", clk: {}, del: null, vals: {} } }] }, /stamp/],
      [{ from: "0123456789abcdef", changes: Array.from({ length: MAX_CHANGES_PER_BATCH + 1 }, () => change("teams", {})) }, new RegExp(`at most ${MAX_CHANGES_PER_BATCH}`)],
    ];
    for (const [body, reason] of cases) {
      const res = await api(a, "POST", "/api/sync/database/apply", body);
      expect(res.status, JSON.stringify(res.json)).toBe(400);
      expect(String(res.json.error)).toMatch(reason);
    }
    expect(await declaredTooLarge(a.port, "/api/sync/database/apply", 65 * 1024 * 1024)).toBe(413);
    expect(JSON.stringify(dumpOf(a))).toBe(before);
  });

  it("a capture call with a malformed pending flag gets 400 naming it; pending=1 captures", async () => {
    const a = sites[0]!;
    const bad = await api(a, "POST", "/api/sync/database/capture?pending=yes");
    expect(bad.status).toBe(400);
    expect(String(bad.json.error)).toMatch(/pending/);
    const ok = await api(a, "POST", "/api/sync/database/capture?pending=1");
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect(ok.json).toHaveProperty("seq");
  });

  it("a row for an unknown table is kept (parked with a reason), not dropped and not an error", async () => {
    const a = sites[0]!;
    const res = await api(a, "POST", "/api/sync/database/apply", { from: "0123456789abcdef", changes: [change("no_such_table", { x: 1 })] });
    expect(res.status).toBe(200);
    expect(res.json.parked).toBe(1);
    expect(rowsOf(a, "SELECT why FROM _scoutsync_rows WHERE tbl = 'no_such_table'")[0]![0]).toMatch(/does not exist on this site yet/);
  });
});
