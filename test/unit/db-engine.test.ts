/**
 * The database engine's rules (DESIGN.md §2, issue 4), one deterministic example each, on
 * in-process replicas that exchange changes over JSON as real sites do (test/property/model.ts).
 * Apps write with plain SQL on the same database, or with python3's sqlite3 on a file.
 *
 * "Later" between sites means a later wall-clock millisecond: the capture triggers stamp writes
 * with the time read in SQL, so the examples sleep a few milliseconds between competing writes.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { formatHlc, ZERO_HLC } from "../../functions/clock/hlc.js";
import type { PageRequest } from "../../functions/db/changes.js";
import { applyRemote, captureLocal, readChangePages, readChanges, readClock } from "../../functions/db/engine.js";
import type { SqlDb, SqlExec, Stmt } from "../../functions/db/port.js";
import { MAX_BATCH_BYTES } from "../../functions/wire/database.js";
import { freshRowsSql } from "../../functions/sql/triggers.js";
import { checkIntegrity, logicalDump, type LogicalDump } from "../support/logical-dump.js";
import { Network, SCHEMA, newReplica, siteId, type Db, type Replica } from "../property/model.js";
import { openDb, sqlDb } from "../support/libsql-db.js";

const open: Replica[] = [];
const tmpDirs: string[] = [];

afterEach(() => {
  for (const r of open.splice(0)) if (r.db.open) r.db.close();
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function replicas(n: number, opts: { ddl?: string[]; foreignKeys?: boolean } = {}): Replica[] {
  const out = Array.from({ length: n }, (_, i) => newReplica("ABCDE"[i]!, siteId(100 + i), { ddl: opts.ddl ?? SCHEMA, foreignKeys: opts.foreignKeys }));
  open.push(...out);
  return out;
}

async function mesh(n: number, opts: { ddl?: string[]; foreignKeys?: boolean; links?: [number, number][] } = {}) {
  const reps = replicas(n, opts);
  const net = await new Network(reps, opts.links).start();
  return { reps, net };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(db: Db, sql: string, ...args: unknown[]): void {
  db.prepare(sql).run(...args);
}

function rows(db: Db, sql: string, ...args: unknown[]): unknown[][] {
  return db.prepare(sql).raw(true).safeIntegers(true).all(...args) as unknown[][];
}

/** Settles, then checks that every replica holds the same content and is consistent; returns that content. */
async function converged(net: Network): Promise<LogicalDump> {
  const { quiet } = await net.settle(10);
  expect(quiet, "the mesh went quiet").toBe(true);
  const dumps = net.replicas.map((r) => logicalDump(r.db));
  for (let i = 1; i < dumps.length; i++) expect(dumps[i], `${net.replicas[i]!.name} equals ${net.replicas[0]!.name}`).toEqual(dumps[0]);
  for (const r of net.replicas) expect(checkIntegrity(r.db), `${r.name} is consistent`).toEqual([]);
  return dumps[0]!;
}

function parked(r: Replica): { tbl: string; gid: string; why: string }[] {
  return (r.db.prepare("SELECT tbl, gid, why FROM _scoutsync_rows WHERE why IS NOT NULL ORDER BY tbl, gid").raw(true).all() as string[][]).map(([tbl, gid, why]) => ({
    tbl: tbl!,
    gid: gid!,
    why: why!,
  }));
}

/** `sql` with every statement it runs written down into `seen`. */
function recordingStatements(sql: SqlDb, seen: Stmt[]): SqlDb {
  const wrap = (tx: SqlExec): SqlExec => ({ batch: (stmts) => (seen.push(...stmts), tx.batch(stmts)) });
  return { write: (fn) => sql.write((tx) => fn(wrap(tx))), read: (fn) => sql.read((tx) => fn(wrap(tx))), snapshot: (stmts) => (seen.push(...stmts), sql.snapshot(stmts)) };
}

/** The statements replica `r` runs during `fn`, and what `fn` returned. */
async function statementsDuring<T>(r: Replica, fn: () => Promise<T>): Promise<{ statements: Stmt[]; result: T }> {
  const statements: Stmt[] = [];
  const sql = r.sql;
  r.sql = recordingStatements(sql, statements);
  try {
    return { statements, result: await fn() };
  } finally {
    r.sql = sql;
  }
}

/** `sql` with each call it gets written down: the transactions an operation takes. */
function countingCalls(sql: SqlDb): { counted: SqlDb; calls: string[] } {
  const calls: string[] = [];
  const counted: SqlDb = {
    write: (fn) => (calls.push("write"), sql.write(fn)),
    read: (fn) => (calls.push("read"), sql.read(fn)),
    snapshot: (stmts) => (calls.push(`snapshot of ${stmts.length}`), sql.snapshot(stmts)),
  };
  return { counted, calls };
}

describe("merge rules", () => {
  it("concurrent edits of different columns of one row both survive", async () => {
    const { reps, net } = await mesh(3);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 100, 'orig')");
    await net.settle();
    run(a.db, "UPDATE teams SET name = 'Robo Raiders' WHERE id = 1");
    run(b.db, "UPDATE teams SET number = 254 WHERE id = 1");
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT number, name FROM teams")).toEqual([[254n, "Robo Raiders"]]);
  });

  it("columns named like what every object inherits (constructor, valueOf, toString, __proto__) merge like any other", async () => {
    const ddl = ['CREATE TABLE robots (id INTEGER PRIMARY KEY, "constructor" TEXT, "valueOf" TEXT, "toString" TEXT, "__proto__" TEXT)'];
    const { reps, net } = await mesh(2, { ddl });
    const [a, b] = reps as [Replica, Replica];
    run(a.db, `INSERT INTO robots (id, "constructor", "valueOf", "toString", "__proto__") VALUES (1, 'orig', 'orig', 'orig', 'orig')`);
    await converged(net);
    expect(rows(b.db, `SELECT "__proto__" FROM robots`), "a new row carries every column").toEqual([["orig"]]);
    run(a.db, `UPDATE robots SET "constructor" = 'earlier', "valueOf" = 'A', "__proto__" = 'earlier' WHERE id = 1`);
    await sleep(5);
    run(b.db, `UPDATE robots SET "constructor" = 'later', "toString" = 'B', "__proto__" = 'later' WHERE id = 1`);
    await converged(net);
    for (const r of reps) expect(rows(r.db, `SELECT "constructor", "valueOf", "toString", "__proto__" FROM robots`)).toEqual([["later", "A", "B", "later"]]);
    run(b.db, "DELETE FROM robots WHERE id = 1");
    run(a.db, `INSERT INTO robots (id, "__proto__") VALUES (2, 'second')`);
    await converged(net);
    for (const r of reps) expect(rows(r.db, `SELECT id, "constructor", "__proto__" FROM robots`)).toEqual([[2n, null, "second"]]);
  });

  it.each([
    ["B writes last", 0, 1],
    ["A writes last", 1, 0],
  ])("the same column: the later write wins everywhere (%s)", async (_name, first, second) => {
    const { reps, net } = await mesh(3);
    run(reps[0]!.db, "INSERT INTO teams (id, number, name) VALUES (1, 100, 'orig')");
    await net.settle();
    run(reps[first]!.db, "UPDATE teams SET name = 'earlier' WHERE id = 1");
    await sleep(5);
    run(reps[second]!.db, "UPDATE teams SET name = 'later' WHERE id = 1");
    await net.capture(0);
    await net.capture(1);
    // C hears of the later write first, of the earlier one after.
    await net.pullAll(second, 2);
    await net.pullAll(first, 2);
    expect(rows(reps[2]!.db, "SELECT name FROM teams")).toEqual([["later"]]);
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT number, name FROM teams")).toEqual([[100n, "later"]]);
  });

  it("a delete wins over a concurrent earlier update: deleted everywhere", async () => {
    const { reps, net } = await mesh(3);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 100, 'orig')");
    await net.settle();
    run(a.db, "UPDATE teams SET name = 'edited' WHERE id = 1");
    await sleep(5);
    run(b.db, "DELETE FROM teams WHERE id = 1");
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT * FROM teams")).toEqual([]);
  });

  it("a strictly later update wins over a delete: the row lives everywhere with the later values", async () => {
    const { reps, net } = await mesh(3);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name, tag) VALUES (1, 100, 'orig', 't1')");
    await net.settle();
    run(b.db, "DELETE FROM teams WHERE id = 1");
    await sleep(5);
    run(a.db, "UPDATE teams SET name = 'edited later' WHERE id = 1");
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT number, name, tag FROM teams")).toEqual([[100n, "edited later", "t1"]]);
  });

  it("insert, delete and re-insert of a rowid row converges, whatever each site saw", async () => {
    const { reps, net } = await mesh(3);
    const [a, b, c] = reps as [Replica, Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (5, 1, 'one')");
    await net.capture(0);
    await net.pullAll(0, 1); // B sees the first insert
    run(a.db, "DELETE FROM teams WHERE id = 5");
    await net.capture(0);
    await net.pullAll(0, 1); // and the delete
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (5, 2, 'two')");
    await net.capture(0);
    await net.pullAll(0, 2); // C sees only the end
    await net.pull(0, 2, 10, "stale"); // and an old page again
    await converged(net);
    for (const r of [a, b, c]) expect(rows(r.db, "SELECT number, name FROM teams")).toEqual([[2n, "two"]]);
  });

  it("insert, delete and re-insert of a text-key row converges", async () => {
    const { reps, net } = await mesh(3);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO settings (key, value) VALUES ('event', 'v1')");
    await net.settle();
    run(b.db, "DELETE FROM settings WHERE key = 'event'");
    await net.settle();
    for (const r of reps) expect(rows(r.db, "SELECT * FROM settings")).toEqual([]);
    run(a.db, "INSERT INTO settings (key, value) VALUES ('event', 'v2')");
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT * FROM settings")).toEqual([["event", "v2"]]);
  });

  it("upserts of one text key on two sites merge into one row", async () => {
    const { reps, net } = await mesh(3);
    run(reps[0]!.db, "INSERT INTO pit (team, event, note) VALUES (254, 'qual', 'from A')");
    await sleep(5);
    run(reps[1]!.db, "INSERT INTO pit (team, event, note, photo) VALUES (254, 'qual', 'from B', x'ff')");
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT team, event, note, hex(photo) FROM pit")).toEqual([[254n, "qual", "from B", "FF"]]);
  });
});

describe("integer keys", () => {
  it("two sites insert id 1 at the same time: both rows everywhere, children still point at their own parent", async () => {
    const { reps, net } = await mesh(3);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO matches (id, label) VALUES (1, 'A-match')");
    run(a.db, "INSERT INTO entries (id, match_id, team, tag) VALUES (1, 1, '254', 'A-child')");
    run(b.db, "INSERT INTO matches (id, label) VALUES (1, 'B-match')");
    run(b.db, "INSERT INTO entries (id, match_id, team, tag) VALUES (1, 1, '1678', 'B-child')");
    const dump = await converged(net);
    expect(dump.matches!.rows).toHaveLength(2);
    expect(dump.entries!.rows).toHaveLength(2);
    for (const r of reps) {
      expect(rows(r.db, "SELECT label FROM matches ORDER BY label")).toEqual([["A-match"], ["B-match"]]);
      expect(rows(r.db, "SELECT e.tag, m.label FROM entries e JOIN matches m ON m.id = e.match_id ORDER BY e.tag")).toEqual([
        ["A-child", "A-match"],
        ["B-child", "B-match"],
      ]);
    }
    // Each site keeps its own rows under the ids it gave them.
    expect(rows(a.db, "SELECT label FROM matches WHERE id = 1")).toEqual([["A-match"]]);
    expect(rows(b.db, "SELECT label FROM matches WHERE id = 1")).toEqual([["B-match"]]);
  });

  it("new rows keep their origin ids where free, whether a few decide at insert or many are read first", async () => {
    for (const count of [3, 40]) {
      const [a, b, c] = replicas(3) as [Replica, Replica, Replica];
      // A and C both write ids 1..count; B already holds a row at id 2 of its own.
      for (let id = 1; id <= count; id++) {
        run(a.db, "INSERT INTO teams (id, name) VALUES (?, ?)", id, `A${id}`);
        run(c.db, "INSERT INTO teams (id, name) VALUES (?, ?)", id, `C${id}`);
      }
      run(b.db, "INSERT INTO teams (id, name) VALUES (2, 'B2')");
      for (const r of [a, b, c]) await captureLocal(r.sql, r.ctx);
      const fromA = (await readChanges(a.sql, a.ctx, 0, 1000)).changes;
      const fromC = (await readChanges(c.sql, c.ctx, 0, 1000)).changes;
      // Both sites' rows in one batch: A's row 1 arrives before C's row 1.
      await applyRemote(b.sql, b.ctx, { from: a.site }, [...fromA, ...fromC]);
      const held = rows(b.db, "SELECT id, name FROM teams ORDER BY id") as [bigint, string][];
      expect(held, `${count} rows from each site and B's own: none lost`).toHaveLength(2 * count + 1);
      const idOf = new Map(held.map(([id, name]) => [name, id]));
      expect(idOf.get("B2"), "B's own row keeps its id").toBe(2n);
      expect(idOf.get("A1"), "the first row wanting a free id gets it").toBe(1n);
      // Those that found their id taken go above every id the batch wants, so no row is pushed off its own.
      for (let id = 3; id <= count; id++) expect(idOf.get(`A${id}`)).toBe(BigInt(id));
      for (const name of ["A2", ...Array.from({ length: count }, (_, i) => `C${i + 1}`)]) expect(idOf.get(name)! > BigInt(count), name).toBe(true);
      for (const r of [a, b, c]) r.db.close();
    }
  });

  it("a child inserted later on another site points at the right one of two colliding parents", async () => {
    const { reps, net } = await mesh(3);
    const [a, b, c] = reps as [Replica, Replica, Replica];
    run(a.db, "INSERT INTO matches (id, label) VALUES (1, 'A-match')");
    run(b.db, "INSERT INTO matches (id, label) VALUES (1, 'B-match')");
    await net.settle();
    // C's local ids: one of them got 1, the other another id. C scouts B's match.
    const [[bLocal]] = rows(c.db, "SELECT id FROM matches WHERE label = 'B-match'") as [[bigint]];
    run(c.db, "INSERT INTO entries (match_id, tag) VALUES (?, 'C-child')", bLocal);
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT m.label FROM entries e JOIN matches m ON m.id = e.match_id")).toEqual([["B-match"]]);
  });

  /** A deletes its row 3, then B's row 3 arrives and takes the id 3 that is free again on A; C relays. */
  async function reusedId() {
    const { reps, net } = await mesh(3);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO entries (id, team, photo, tag) VALUES (3, 'a', x'', 'A#1')");
    await net.capture(0); // a row inserted and deleted between two captures never existed for the others
    run(a.db, "DELETE FROM entries WHERE id = 3");
    await net.capture(0);
    await net.pullAll(0, 1); // B knows A's deleted row with its real last values
    await sleep(2);
    run(b.db, "INSERT INTO entries (id, team, tag) VALUES (3, 'b', 'B#1')");
    await net.capture(1);
    await net.pullAll(1, 0);
    expect(rows(a.db, "SELECT id, tag FROM entries")).toEqual([[3n, "B#1"]]);
    return { reps, a, net };
  }

  it("a deleted row keeps its own last values when another site's row takes its old local id", async () => {
    const { a } = await reusedId();
    const page = await readChanges(a.sql, a.ctx, 0, 100);
    const tomb = page.changes.find((ch) => ch.g === `${a.site}.3`);
    expect(tomb?.s.del).not.toBeNull();
    expect(tomb?.s.vals).toMatchObject({ team: "a", tag: "A#1", photo: { b: "" } });
  });

  it("a deleted row does not take down another site's row that later got the same local id", async () => {
    const { reps, net } = await reusedId();
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT id, team, tag FROM entries")).toEqual([[3n, "b", "B#1"]]);
  });

  it("a new row on a site reusing the id of a deleted row does not merge with another site's new row (no lost insert)", async () => {
    const { reps, net } = await mesh(2);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, name, tag) VALUES (6, 'kept', 'kept')");
    run(a.db, "INSERT INTO teams (id, name, tag) VALUES (7, 'old', 'old')");
    await net.settle();
    run(a.db, "DELETE FROM teams WHERE id = 7");
    await net.settle();
    // Both apps now insert a new, unrelated team; SQLite hands out id 7 again on both sites.
    run(a.db, "INSERT INTO teams (name, tag) VALUES ('new on A', 'A-new')");
    run(b.db, "INSERT INTO teams (name, tag) VALUES ('new on B', 'B-new')");
    expect(rows(a.db, "SELECT id FROM teams WHERE tag = 'A-new'")).toEqual([[7n]]);
    expect(rows(b.db, "SELECT id FROM teams WHERE tag = 'B-new'")).toEqual([[7n]]);
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT tag FROM teams ORDER BY tag")).toEqual([["A-new"], ["B-new"], ["kept"]]);
  });

  it.each([
    ["on", true],
    ["off", false],
  ])("a parent deleted on one site while another adds a child to it: all sites agree, no child points at a missing parent (foreign_keys %s)", async (_name, foreignKeys) => {
    const { reps, net } = await mesh(3, { foreignKeys });
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO matches (id, label) VALUES (1, 'Q1')");
    await net.settle();
    run(a.db, "DELETE FROM matches WHERE id = 1");
    run(b.db, "INSERT INTO entries (match_id, tag) VALUES (1, 'child')");
    await converged(net);
    for (const r of reps) expect(parked(r), `${r.name} parked nothing`).toEqual([]);
    // Either resolution is deterministic (the child goes with its parent, or keeps it alive); which one is the engine's choice.
    for (const r of reps) expect(rows(r.db, "SELECT count(*) FROM entries e LEFT JOIN matches m ON m.id = e.match_id WHERE m.id IS NULL")).toEqual([[0n]]);
  });
});

describe("topology and delivery", () => {
  it("A ↔ B ↔ C converges when A and C never exchange directly", async () => {
    const { reps, net } = await mesh(3, { links: [[0, 1], [1, 0], [1, 2], [2, 1]] });
    const [a, b, c] = reps as [Replica, Replica, Replica];
    run(a.db, "INSERT INTO matches (id, label) VALUES (1, 'A-match')");
    run(a.db, "INSERT INTO entries (match_id, tag) VALUES (1, 'A-child')");
    run(c.db, "INSERT INTO matches (id, label) VALUES (1, 'C-match')");
    run(c.db, "INSERT INTO entries (match_id, tag) VALUES (1, 'C-child')");
    run(b.db, "INSERT INTO settings (key, value) VALUES ('from', 'B')");
    await net.settle();
    run(c.db, "UPDATE matches SET label = 'A-match, renamed on C' WHERE label = 'A-match'");
    run(a.db, "DELETE FROM settings WHERE key = 'from'");
    const dump = await converged(net);
    expect(dump.settings!.rows).toEqual([]);
    for (const r of reps) {
      expect(rows(r.db, "SELECT e.tag, m.label FROM entries e JOIN matches m ON m.id = e.match_id ORDER BY e.tag")).toEqual([
        ["A-child", "A-match, renamed on C"],
        ["C-child", "C-match"],
      ]);
    }
  });

  it("pages delivered twice, out of order or dropped still converge", async () => {
    const { reps, net } = await mesh(3);
    const [a, b] = reps as [Replica, Replica];
    for (let i = 1; i <= 6; i++) run(a.db, "INSERT INTO teams (number, name) VALUES (?, ?)", i, `team ${i}`);
    run(a.db, "UPDATE teams SET name = 'renamed' WHERE number = 2");
    run(a.db, "DELETE FROM teams WHERE number = 3");
    await net.capture(0);
    await net.pull(0, 1, 2, "reorder");
    await net.pull(0, 1, 2, "twice");
    await net.pull(0, 1, 2, "drop");
    await net.pull(0, 1, 2, "stale");
    await net.pull(0, 1, 2, "once");
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT number, name FROM teams ORDER BY number")).toEqual([[1n, "team 1"], [2n, "renamed"], [4n, "team 4"], [5n, "team 5"], [6n, "team 6"]]);
    expect(parked(b)).toEqual([]);
  });


  it("a transaction that fails after installing capture (rolled back) does not leave a cached schema that breaks every later call", async () => {
    const a = replicas(1)[0]!;
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 254, 'Cheesy Poofs')");
    // The commit is lost: the capture tables, triggers and rows made in it are rolled back.
    const lost: typeof a.sql = {
      read: (fn) => a.sql.read(fn),
      snapshot: (stmts) => a.sql.snapshot(stmts),
      write: (fn) =>
        a.sql.write(async (tx) => {
          await fn(tx);
          throw new Error("connection lost at commit");
        }),
    };
    await expect(captureLocal(lost, a.ctx)).rejects.toThrow(/connection lost/);
    expect(rows(a.db, "SELECT count(*) FROM sqlite_schema WHERE name = '_scoutsync_rows'")).toEqual([[0n]]);
    await captureLocal(a.sql, a.ctx);
    run(a.db, "UPDATE teams SET name = 'The Cheesy Poofs' WHERE id = 1");
    expect((await captureLocal(a.sql, a.ctx)).captured).toBe(1);
    expect((await readChanges(a.sql, a.ctx, 0, 100)).changes.map((ch) => ch.s.vals.name)).toEqual(["The Cheesy Poofs"]);
  });

  it("a read while another connection installs capture (not committed yet) gives an empty page, not 'no such table'", async () => {
    const dir = mkdtempSync(join(tmpdir(), "scoutsync-install-"));
    tmpDirs.push(dir);
    const a = newReplica("A", siteId(100), { file: join(dir, "app.db"), ddl: SCHEMA });
    open.push(a);
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 254, 'Cheesy Poofs')");
    const other = openDb(join(dir, "app.db"));
    const reader = sqlDb(other);
    let reached!: () => void;
    const atCommit = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const commit = new Promise<void>((r) => (release = r));
    // The install transaction stops just before its COMMIT, as a slow round trip would.
    const slow: typeof a.sql = {
      read: (fn) => a.sql.read(fn),
      snapshot: (stmts) => a.sql.snapshot(stmts),
      write: (fn) =>
        a.sql.write(async (tx) => {
          const out = await fn(tx);
          reached();
          await commit;
          return out;
        }),
    };
    try {
      const capturing = captureLocal(slow, a.ctx);
      await atCommit;
      expect(await readChanges(reader, a.ctx, 0, 100)).toMatchObject({ changes: [], last: 0, more: false });
      release();
      expect((await capturing).captured).toBe(0);
      expect((await readChanges(reader, a.ctx, 0, 100)).changes.map((ch) => ch.s.vals.name)).toEqual(["Cheesy Poofs"]);
    } finally {
      other.close();
    }
  });

  it("an apply says how many rows it changed into a state no other site holds (those must be forwarded to every peer)", async () => {
    const { reps, net } = await mesh(2);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name, tag) VALUES (1, 254, 'Cheesy Poofs', 'x')");
    await net.capture(0);
    const first = await net.deliver(0, 1, (await net.read(0, 1, 0, 100)).changes);
    expect(first).toMatchObject({ applied: 1, unheld: 0 });
    // B edits another column before A's next edit arrives: the merge is a state only B has.
    run(b.db, "UPDATE teams SET tag = 'from B' WHERE id = 1");
    await net.capture(1);
    await sleep(3);
    const since = (await net.read(0, 1, 0, 100)).last;
    run(a.db, "UPDATE teams SET name = 'The Cheesy Poofs' WHERE id = 1");
    await net.capture(0);
    const merged = await net.deliver(0, 1, (await net.read(0, 1, since, 100)).changes);
    expect(merged).toMatchObject({ applied: 1, unheld: 1 });
    expect(rows(b.db, "SELECT name, tag FROM teams WHERE id = 1")).toEqual([["The Cheesy Poofs", "from B"]]);
  });

  it("a pull skips what pushes delivered to the reader, but not rows those pushes left to another sender's promise", async () => {
    const { reps, net } = await mesh(3);
    const [a, b, c] = reps as [Replica, Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 254, 'Cheesy Poofs')");
    await net.capture(0);
    await net.pullAll(0, 1); // B holds A's row, and A said it delivers it to C too
    run(b.db, "INSERT INTO teams (id, number, name) VALUES (2, 1678, 'Citrus Circuits')");
    await net.capture(1);
    const pushed = (await readChanges(b.sql, b.ctx, 0, 100)).last; // B's pushes reached C this far
    run(b.db, "INSERT INTO teams (id, number, name) VALUES (3, 971, 'Spartan Robotics')");
    await net.capture(1);
    const names = (page: Awaited<ReturnType<typeof readChanges>>) => page.changes.filter((ch) => ch.t === "teams").map((ch) => ch.s.vals.name);
    const page = await readChanges(b.sql, b.ctx, 0, 100, { site: c.site, hints: false, pushed });
    // A's row: B's push to C skipped it on A's word, so C's pull must still get it; B's own row came by push.
    expect(names(page)).toEqual(["Cheesy Poofs", "Spartan Robotics"]);
    expect(page.more).toBe(false);
    expect(names(await readChanges(b.sql, b.ctx, 0, 100, { site: c.site, hints: false }))).toEqual(["Cheesy Poofs", "Citrus Circuits", "Spartan Robotics"]);
    await converged(net);
  });

  it("a row is not sent back to the site it came from unchanged, nor pushed to sites its sender delivers to, and goes back once it changes", async () => {
    const { reps, net } = await mesh(3);
    const [a, b, c] = reps as [Replica, Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 254, 'Cheesy Poofs')");
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (2, 1678, 'Citrus Circuits')");
    await net.capture(0);
    await net.pullAll(0, 1);
    const teamsIn = (page: Awaited<ReturnType<typeof readChanges>>) => page.changes.filter((ch) => ch.t === "teams");
    const forA = await readChanges(b.sql, b.ctx, 0, 100, { site: a.site, hints: true });
    expect(teamsIn(forA)).toEqual([]);
    expect(forA.last, "the checkpoint still moves past the rows A holds").toBeGreaterThan(0);
    // A delivers to C as well and said so: B's push to C skips the rows, B's answer to C's pull (anti-entropy) does not.
    expect(teamsIn(await readChanges(b.sql, b.ctx, 0, 100, { site: c.site, hints: true }))).toEqual([]);
    expect(teamsIn(await readChanges(b.sql, b.ctx, 0, 100, { site: c.site, hints: false }))).toHaveLength(2);

    // B edits one row: that row is B's state now, and A hears of it.
    run(b.db, "UPDATE teams SET name = 'The Cheesy Poofs' WHERE id = 1");
    await net.capture(1);
    expect(teamsIn(await readChanges(b.sql, b.ctx, 0, 100, { site: a.site, hints: true })).map((ch) => ch.s.vals.name)).toEqual(["The Cheesy Poofs"]);

    // A merge of concurrent edits differs from what either side sent: it goes back to both.
    await sleep(2);
    run(a.db, "UPDATE teams SET number = 2540 WHERE id = 2");
    run(c.db, "INSERT INTO settings (key, value) VALUES ('c', 'here')");
    await net.capture(0);
    run(b.db, "UPDATE teams SET name = 'Citrus' WHERE id = 2");
    await net.capture(1);
    await net.pullAll(0, 1);
    const merged = teamsIn(await readChanges(b.sql, b.ctx, 0, 100, { site: a.site, hints: true })).find((ch) => ch.s.vals.name === "Citrus");
    expect(merged?.s.vals.number).toBe(2540);
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT id, number, name FROM teams ORDER BY id")).toEqual([[1n, 254n, "The Cheesy Poofs"], [2n, 2540n, "Citrus"]]);
  });

  it("pages for several readers come from one read transaction, each with its own skips, as if read one by one; a row on several pages is read once", async () => {
    const { reps, net } = await mesh(3);
    const [a, b, c] = reps as [Replica, Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 254, 'Cheesy Poofs')");
    run(a.db, "INSERT INTO settings (key, value) VALUES ('event', 'CASJ')");
    await net.capture(0);
    await net.pullAll(0, 1);
    run(b.db, "INSERT INTO teams (id, number, name) VALUES (2, 1678, 'Citrus Circuits')");
    await net.capture(1);
    const requests: PageRequest[] = [
      { since: 0, limit: 100, reader: { site: a.site, hints: true } },
      { since: 0, limit: 100, reader: { site: c.site, hints: false } },
      { since: 0, limit: 100, reader: null },
      { since: 0, limit: 1, reader: null },
    ];
    let batches = 0;
    const reads: number[] = [];
    const counted: SqlDb = { ...b.sql, read: (fn) => (reads.push(1), b.sql.read((tx) => fn({ batch: (stmts) => (batches++, tx.batch(stmts)) }))) };
    const together = await readChangePages(counted, b.ctx, requests);
    expect(reads).toHaveLength(1);
    const oneByOne = [];
    for (const r of requests) oneByOne.push(await readChanges(b.sql, b.ctx, r.since, r.limit, r.reader));
    expect(together).toEqual(oneByOne);
    expect(together[0]!.changes.map((ch) => ch.s.vals.name), "A's own rows are not sent back to it").toEqual(["Citrus Circuits"]);
    expect(together[2]!.changes).toHaveLength(3);
    // The page for everyone holds every row of the others: reading all four took as many round trips as it alone.
    const all = batches;
    batches = 0;
    await readChangePages(counted, b.ctx, [requests[2]!]);
    expect(all).toBe(batches);
  });

  it("an apply of a received new row takes one round trip after the capture check (which carries its first reads), and leaves capture unmuted", async () => {
    const [a, b] = replicas(2) as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 254, 'Cheesy Poofs')");
    await captureLocal(a.sql, a.ctx);
    const page = await readChanges(a.sql, a.ctx, 0, 100);
    await captureLocal(b.sql, b.ctx);
    let batches = 0;
    const counted: SqlDb = { ...b.sql, write: (fn) => b.sql.write((tx) => fn({ batch: (stmts) => (batches++, tx.batch(stmts)) })) };
    expect(await applyRemote(counted, b.ctx, { from: a.site }, page.changes)).toMatchObject({ applied: 1, parked: 0 });
    // The capture check with the version rows' lookup, then the row (which takes its key if free) with the counters.
    expect(batches).toBe(2);
    expect(rows(b.db, "SELECT id, name FROM teams")).toEqual([[1n, "Cheesy Poofs"]]);
    expect(rows(b.db, "SELECT count(*) FROM _scoutsync_mute")).toEqual([[0n]]);
    run(b.db, "UPDATE teams SET name = 'The Cheesy Poofs' WHERE id = 1");
    expect((await captureLocal(b.sql, b.ctx)).captured, "the app's next write is captured").toBe(1);
  });

  it("only an integer key of a parent row that exists becomes a reference; others stay plain values", async () => {
    const ddl = ["CREATE TABLE matches (id INTEGER PRIMARY KEY, label TEXT)", "CREATE TABLE notes (id INTEGER PRIMARY KEY, match_ref REFERENCES matches(id), body TEXT)"];
    const { reps, net } = await mesh(2, { ddl });
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO matches (id, label) VALUES (7, 'Q7')");
    run(a.db, "INSERT INTO notes (id, match_ref, body) VALUES (1, 7, 'to the match'), (2, 99, 'no such match'), (3, '7', 'text that looks like a key'), (4, NULL, 'none')");
    await net.capture(0);
    const page = await readChanges(a.sql, a.ctx, 0, 100);
    const refOf = (id: number) => page.changes.find((ch) => ch.t === "notes" && ch.g.endsWith(`.${id}`))!.s.vals.match_ref;
    expect(refOf(1)).toEqual({ t: "matches", r: page.changes.find((ch) => ch.t === "matches")!.g });
    expect(refOf(2)).toBe(99);
    expect(refOf(3)).toBe("7");
    expect(refOf(4)).toBeNull();
    await net.settle();
    expect(rows(b.db, "SELECT id, match_ref, typeof(match_ref) FROM notes ORDER BY id")).toEqual([[1n, 7n, "integer"], [2n, 99n, "integer"], [3n, "7", "text"], [4n, null, "null"]]);
    // (Not `converged`: its consistency check rightly names note 2's dangling key.)
    expect(logicalDump(b.db)).toEqual(logicalDump(a.db));
  });

  it("reading and applying a page finds version rows through an index, never by walking a table's rows", async () => {
    const [a, b] = replicas(2) as [Replica, Replica];
    const seen: Stmt[] = [];
    for (const r of [a, b]) {
      run(r.db, "INSERT INTO matches (id, label) VALUES (1, 'Q1'), (2, 'Q2')");
      run(r.db, "INSERT INTO entries (id, match_id, team, score) VALUES (1, 1, '254', 10), (2, 2, '1678', 20)");
    }
    await captureLocal(a.sql, a.ctx);
    await applyRemote(b.sql, b.ctx, { from: a.site }, (await readChanges(a.sql, a.ctx, 0, 100)).changes);
    run(a.db, "UPDATE entries SET score = score + 1");
    run(a.db, "INSERT INTO entries (id, match_id, team, score) VALUES (3, 2, '971', 30)");
    run(a.db, "DELETE FROM matches WHERE id = 1");
    await captureLocal(a.sql, a.ctx);
    const page = await readChanges(recordingStatements(a.sql, seen), a.ctx, 0, 100);
    await applyRemote(recordingStatements(b.sql, seen), b.ctx, { from: a.site }, page.changes);
    const plans = seen
      .filter((s) => /_scoutsync_rows\b/.test(s.sql) && /^\s*(SELECT|WITH)/i.test(s.sql))
      .map((s) => ({ sql: s.sql, plan: (b.db.prepare(`EXPLAIN QUERY PLAN ${s.sql}`).all(...(s.args ?? [])) as { detail: string }[]).map((r) => r.detail) }));
    expect(plans.length).toBeGreaterThan(3);
    for (const { sql, plan } of plans) {
      const bad = plan.filter((d) => /^SCAN _scoutsync_rows\b/.test(d) || /_scoutsync_rows_lk \(tbl=\?\)$/.test(d));
      expect(bad, sql).toEqual([]);
    }
  });

  it("a page spanning the app's tables reads all their values and the references they hold in one round trip", async () => {
    const [a, b] = replicas(2) as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 254, 'Cheesy Poofs')");
    run(a.db, "INSERT INTO matches (id, label) VALUES (7, 'Q7')");
    run(a.db, "INSERT INTO entries (id, match_id, team, score) VALUES (3, 7, '254', 41.5)");
    run(a.db, "INSERT INTO settings (key, value) VALUES ('event', '2026cmp')");
    await captureLocal(a.sql, a.ctx);
    let batches = 0;
    const counted: SqlDb = { ...a.sql, read: (fn) => a.sql.read((tx) => fn({ batch: (stmts) => (batches++, tx.batch(stmts)) })) };
    const page = await readChanges(counted, a.ctx, 0, 100);
    expect(page.changes).toHaveLength(4);
    // The page with the counters, then the values of four tables with the match the entry points at.
    expect(batches).toBe(2);
    const entry = page.changes.find((ch) => ch.t === "entries")!;
    expect(entry.s.vals.match_id, "the reference names the match, not its local key").toMatchObject({ t: "matches" });

    // The receiver finds the parents' keys in the version rows it looks up anyway, and a few new
    // rows claim their origin keys as they are inserted: no read in between.
    await captureLocal(b.sql, b.ctx);
    batches = 0;
    const writes: SqlDb = { ...b.sql, write: (fn) => b.sql.write((tx) => fn({ batch: (stmts) => (batches++, tx.batch(stmts)) })) };
    expect(await applyRemote(writes, b.ctx, { from: a.site }, page.changes)).toMatchObject({ applied: 4, parked: 0 });
    // The capture check with the version rows' lookup, the rows with the counters.
    expect(batches).toBe(2);
    expect(logicalDump(b.db)).toEqual(logicalDump(a.db));
  });

  it("deletes of many parents look for their children in one round trip; a parent with a live child here is revived, the rest go", async () => {
    /** A deletes matches 1..n, which B holds, after B gave match 1 a child: B's apply of the deletes. */
    const deleteParents = async (n: number) => {
      const [a, b] = replicas(2) as [Replica, Replica];
      for (let i = 1; i <= n; i++) run(a.db, `INSERT INTO matches (id, label) VALUES (${i}, 'Q${i}')`);
      await captureLocal(a.sql, a.ctx);
      await captureLocal(b.sql, b.ctx);
      await applyRemote(b.sql, b.ctx, { from: a.site }, (await readChanges(a.sql, a.ctx, 0, 100)).changes);
      const { seq } = await captureLocal(a.sql, a.ctx);
      run(b.db, "INSERT INTO entries (id, match_id, team, score) VALUES (1, 1, '254', 40)");
      await captureLocal(b.sql, b.ctx);
      run(a.db, "DELETE FROM matches");
      await captureLocal(a.sql, a.ctx);
      let batches = 0;
      const counted: SqlDb = { ...b.sql, write: (fn) => b.sql.write((tx) => fn({ batch: (stmts) => (batches++, tx.batch(stmts)) })) };
      await applyRemote(counted, b.ctx, { from: a.site }, (await readChanges(a.sql, a.ctx, seq, 100)).changes);
      return { a, b, batches };
    };
    const one = await deleteParents(1);
    const many = await deleteParents(40);
    expect(many.batches).toBe(one.batches);
    for (const { b } of [one, many]) {
      expect(rows(b.db, "SELECT id, label FROM matches")).toEqual([[1n, "Q1"]]);
      expect(rows(b.db, "SELECT match_id FROM entries")).toEqual([[1n]]);
    }
    // The revival travels back: A holds the match again, with B's entry under it.
    await applyRemote(many.a.sql, many.a.ctx, { from: many.b.site }, (await readChanges(many.b.sql, many.b.ctx, 0, 1000)).changes);
    expect(logicalDump(many.a.db)).toEqual(logicalDump(many.b.db));
  });

  it("a page served while the app's latest write is not captured yet does not spread empty values (row moved)", async () => {
    const { reps, net } = await mesh(3);
    const [a, b, c] = reps as [Replica, Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name, tag) VALUES (2, 254, 'Robonauts', 't')");
    await net.capture(0);
    await net.pullAll(0, 1);
    run(b.db, "UPDATE teams SET id = 1 WHERE id = 2"); // the app renumbers its row; no capture yet
    await net.pullAll(1, 2); // C pulls from B in between
    await converged(net);
    for (const r of [a, b, c]) expect(rows(r.db, "SELECT number, name, tag FROM teams")).toEqual([[254n, "Robonauts", "t"]]);
  });

  it("a page served while the app's latest write is not captured yet does not spread empty values (row deleted, then revived by a later edit)", async () => {
    const { reps, net } = await mesh(3);
    const [a, b, c] = reps as [Replica, Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name, tag) VALUES (2, 254, 'Robonauts', 't')");
    await net.settle();
    run(b.db, "DELETE FROM teams WHERE id = 2"); // not captured yet
    await net.pullAll(1, 2); // C pulls from B in between
    await sleep(5);
    run(a.db, "UPDATE teams SET number = 255 WHERE id = 2"); // strictly later than the delete: the row lives
    await converged(net);
    for (const r of [a, b, c]) expect(rows(r.db, "SELECT number, name, tag FROM teams")).toEqual([[255n, "Robonauts", "t"]]);
  });

  it("rows the reader holds are skipped a bounded window at a time, and the checkpoint still reaches the head", async () => {
    const { reps, net } = await mesh(2);
    const [a, b] = reps as [Replica, Replica];
    const insert = a.db.prepare("INSERT INTO teams (number, name) VALUES (?, ?)");
    a.db.transaction(() => {
      for (let i = 1; i <= 25_000; i++) insert.run(i, `team ${i}`);
    })();
    await net.capture(0);
    await net.pullAll(0, 1, 2000);
    const first = await readChanges(b.sql, b.ctx, 0, 2000, { site: a.site, hints: true });
    expect(first.changes).toEqual([]);
    expect(first.more).toBe(true);
    expect(first.last).toBeLessThan(first.head);
    const second = await readChanges(b.sql, b.ctx, first.last, 2000, { site: a.site, hints: true });
    expect(second).toMatchObject({ changes: [], last: first.head, more: false });
    // A row B writes in the middle of that range is still found.
    run(b.db, "UPDATE teams SET name = 'renamed on B' WHERE number = 12345");
    await net.capture(1);
    const third = await readChanges(b.sql, b.ctx, second.last, 2000, { site: a.site, hints: true });
    expect(third.changes.map((ch) => ch.s.vals.name)).toEqual(["renamed on B"]);
    await converged(net);
  });

  it("a backlog longer than one capture page is captured in full, by capture and before an apply, and a later local edit still wins", async () => {
    const { reps, net } = await mesh(2);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 1, 'first')");
    await net.settle();
    run(b.db, "UPDATE teams SET name = 'from B' WHERE id = 1");
    await net.capture(1);
    await sleep(2);
    const insert = a.db.prepare("INSERT INTO teams (number, name) VALUES (?, ?)");
    a.db.transaction(() => {
      for (let i = 2; i <= 2600; i++) insert.run(i, `team ${i}`);
    })();
    run(a.db, "UPDATE teams SET name = 'from A, later' WHERE id = 1");
    // B's older edit reaches A while A's 2,601 writes are not captured yet.
    await net.pullAll(1, 0);
    expect(rows(a.db, "SELECT count(*) FROM _scoutsync_log")).toEqual([[0n]]);
    expect(rows(a.db, "SELECT name FROM teams WHERE id = 1")).toEqual([["from A, later"]]);
    run(a.db, "DELETE FROM teams WHERE id > 1300");
    expect((await captureLocal(a.sql, a.ctx)).captured).toBe(1300);
    const dump = await converged(net);
    expect(dump.teams!.rows).toHaveLength(1300);
    for (const r of reps) expect(rows(r.db, "SELECT name FROM teams WHERE id = 1")).toEqual([["from A, later"]]);
  });

  it("reading changes from a site that has not captured anything yet gives an empty page", async () => {
    const [a] = replicas(1);
    const page = await readChanges(a!.sql, a!.ctx, 0, 100);
    expect(page).toMatchObject({ changes: [], last: 0, more: false, head: 0 });
  });

  it("a capture told that writes are pending skips the read that looks for them, and still captures them all", async () => {
    const [a] = replicas(1);
    const { counted, calls } = countingCalls(a!.sql);
    a!.db.exec("INSERT INTO teams (id, name) VALUES (1, 'one')");
    await captureLocal(a!.sql, a!.ctx);
    a!.db.exec("INSERT INTO teams (id, name) VALUES (2, 'two'); UPDATE teams SET name = 'uno' WHERE id = 1");
    calls.length = 0;
    expect((await captureLocal(counted, a!.ctx, { pending: true })).captured).toBe(2);
    expect(calls).toEqual(["write"]);
    // Without the hint, a call that finds nothing takes one read and no write lock.
    calls.length = 0;
    expect((await captureLocal(counted, a!.ctx)).captured).toBe(0);
    expect(calls).toEqual(["snapshot of 4"]);
    // A hint that turned out wrong (another call captured first) costs a write transaction, nothing else.
    calls.length = 0;
    const { captured, seq } = await captureLocal(counted, a!.ctx, { pending: true });
    expect(captured).toBe(0);
    expect(calls).toEqual(["write"]);
    expect(seq).toBe((await readClock(a!.sql, a!.ctx)).seq);
  });

  it("the clock a ping reports takes one statement once capture is known, and is right before it and after the file was replaced", async () => {
    const [a] = replicas(1);
    const { counted, calls } = countingCalls(a!.sql);
    expect(await readClock(counted, a!.ctx)).toEqual({ hlc: formatHlc(ZERO_HLC), seq: 0 });
    a!.db.exec("INSERT INTO teams (id, name) VALUES (1, 'one')");
    const { seq } = await captureLocal(a!.sql, a!.ctx);
    calls.length = 0;
    const clock = await readClock(counted, a!.ctx);
    expect(clock.seq).toBe(seq);
    expect(clock.hlc).not.toBe(formatHlc(ZERO_HLC));
    expect(calls).toEqual(["snapshot of 1"]);
    // The app replaced its file with a fresh one: the short read fails, the careful one answers.
    a!.db.exec("DROP TABLE _scoutsync_meta");
    calls.length = 0;
    expect(await readClock(counted, a!.ctx)).toEqual({ hlc: formatHlc(ZERO_HLC), seq: 0 });
    expect(calls).toEqual(["snapshot of 1", "read"]);
  });
});

describe("schema evolution", () => {
  const EXTRA = "CREATE TABLE extra (id INTEGER PRIMARY KEY, v TEXT)";

  it("changes for a table a site does not have are kept and applied once it creates the table; it forwards them meanwhile", async () => {
    const ddlA = [...SCHEMA, EXTRA];
    const a = newReplica("A", siteId(1), { ddl: ddlA });
    const b = newReplica("B", siteId(2), { ddl: SCHEMA });
    const c = newReplica("C", siteId(3), { ddl: ddlA });
    open.push(a, b, c);
    const net = await new Network([a, b, c], [[0, 1], [1, 0], [1, 2], [2, 1]]).start();
    run(a.db, "INSERT INTO extra (id, v) VALUES (1, 'kept')");
    run(a.db, "INSERT INTO teams (number) VALUES (1)");
    await net.settle();
    expect(parked(b).map((p) => p.tbl)).toEqual(["extra"]);
    expect(parked(b)[0]!.why).toMatch(/does not exist/);
    expect(rows(b.db, "SELECT number FROM teams")).toEqual([[1n]]); // the rest of the batch applied
    expect(rows(c.db, "SELECT v FROM extra")).toEqual([["kept"]]); // forwarded through B
    run(b.db, EXTRA);
    await captureLocal(b.sql, b.ctx);
    expect(rows(b.db, "SELECT id, v FROM extra")).toEqual([[1n, "kept"]]);
    expect(parked(b)).toEqual([]);
    await converged(net);
  });

  it("a table the app creates is captured even when a peer pulls before the site's next capture", async () => {
    const { reps, net } = await mesh(2);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, EXTRA);
    run(b.db, EXTRA);
    await net.pull(0, 1, 100, "once"); // B pulls from A right after the app's DDL
    run(a.db, "INSERT INTO extra (id, v) VALUES (1, 'new table row')");
    await converged(net);
    expect(rows(b.db, "SELECT id, v FROM extra")).toEqual([[1n, "new table row"]]);
  });

  it("a column the app adds is captured even when a peer pulls before the site's next capture", async () => {
    const { reps, net } = await mesh(2);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number) VALUES (1, 254)");
    await net.settle();
    run(a.db, "ALTER TABLE teams ADD COLUMN city TEXT");
    run(b.db, "ALTER TABLE teams ADD COLUMN city TEXT");
    await net.pull(0, 1, 100, "once"); // B pulls from A right after the app's DDL
    await net.capture(0);
    run(a.db, "UPDATE teams SET city = 'Houston' WHERE id = 1");
    await converged(net);
    expect(rows(b.db, "SELECT number, city FROM teams")).toEqual([[254n, "Houston"]]);
  });

  it("a value the app writes into a column it just added, before the site's next capture, is not lost", async () => {
    const { reps, net } = await mesh(2);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number) VALUES (1, 254)");
    await net.settle();
    run(b.db, "ALTER TABLE teams ADD COLUMN city TEXT");
    run(a.db, "ALTER TABLE teams ADD COLUMN city TEXT");
    run(a.db, "UPDATE teams SET city = 'Houston' WHERE id = 1"); // the migration fills the new column at once
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT number, city FROM teams")).toEqual([[254n, "Houston"]]);
  });

  it("an edit of another column around a site's ALTER TABLE ADD COLUMN does not wipe what another site wrote into the new column", async () => {
    const { reps, net } = await mesh(2);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 254, 'orig')");
    await net.settle();
    run(a.db, "ALTER TABLE teams ADD COLUMN city TEXT");
    await net.capture(0);
    run(a.db, "UPDATE teams SET city = 'Houston' WHERE id = 1");
    await net.capture(0);
    await sleep(5);
    // Later, B renames the team and then adds the column, all before its next capture: B never wrote city.
    run(b.db, "UPDATE teams SET name = 'renamed on B' WHERE id = 1");
    run(b.db, "ALTER TABLE teams ADD COLUMN city TEXT");
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT number, name, city FROM teams")).toEqual([[254n, "renamed on B", "Houston"]]);
  });

  it("a change to a column a site does not have is kept and applied after ALTER TABLE ADD COLUMN", async () => {
    const { reps, net } = await mesh(2);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 254, 'orig')");
    await net.settle();
    run(a.db, "ALTER TABLE teams ADD COLUMN city TEXT");
    run(a.db, "UPDATE teams SET city = 'Paris' WHERE id = 1");
    run(a.db, "INSERT INTO teams (id, number, city) VALUES (2, 118, 'Houston')");
    await sleep(2);
    run(b.db, "UPDATE teams SET name = 'renamed on B' WHERE id = 1");
    await net.settle();
    expect(rows(b.db, "SELECT id, number, name FROM teams ORDER BY id")).toEqual([[1n, 254n, "renamed on B"], [2n, 118n, null]]);
    await sleep(2);
    // Adding the column must not count as writing NULL into it.
    run(b.db, "ALTER TABLE teams ADD COLUMN city TEXT");
    await captureLocal(b.sql, b.ctx);
    expect(rows(b.db, "SELECT id, name, city FROM teams ORDER BY id")).toEqual([[1n, "renamed on B", "Paris"], [2n, null, "Houston"]]);
    await converged(net);
    expect(rows(a.db, "SELECT id, name, city FROM teams ORDER BY id")).toEqual([[1n, "renamed on B", "Paris"], [2n, null, "Houston"]]);
  });
});

describe("schema changes with writes not captured yet", () => {
  it("a row written and renumbered before the app alters its table keeps one identity", async () => {
    const { reps, net } = await mesh(2);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, tag) VALUES (1, 254, 't')");
    run(a.db, "ALTER TABLE teams ADD COLUMN city TEXT");
    run(a.db, "UPDATE teams SET id = 2 WHERE id = 1");
    await captureLocal(a.sql, a.ctx);
    expect(checkIntegrity(a.db)).toEqual([]);
    run(b.db, "ALTER TABLE teams ADD COLUMN city TEXT");
    await converged(net);
    expect(rows(b.db, "SELECT number, tag FROM teams")).toEqual([[254n, "t"]]);
  });

  it("a table the app rebuilds (create new, copy, drop, rename: SQLite's way to change a table) is still captured", async () => {
    const { reps, net } = await mesh(2);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO settings (key, value) VALUES ('event', 'CMP')");
    await net.settle();
    a.db.exec(`BEGIN;
      CREATE TABLE settings_new (key TEXT PRIMARY KEY, value TEXT NOT NULL DEFAULT '');
      INSERT INTO settings_new SELECT key, value FROM settings;
      DROP TABLE settings;
      ALTER TABLE settings_new RENAME TO settings;
      COMMIT;`);
    await net.capture(0);
    run(a.db, "INSERT INTO settings (key, value) VALUES ('theme', 'dark')");
    await net.settle();
    expect(rows(b.db, "SELECT key, value FROM settings ORDER BY key")).toEqual([["event", "CMP"], ["theme", "dark"]]);
  });
});

describe("schema evolution after a delete and re-insert", () => {
  it("a row deleted and re-inserted between two captures keeps its new values when its table gains a column", async () => {
    const { reps, net } = await mesh(2);
    const [a] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO settings (key, value) VALUES ('event', 'zzz-old')");
    run(a.db, "DELETE FROM settings WHERE key = 'event'");
    run(a.db, "INSERT INTO settings (key, value) VALUES ('event', 'aaa-new')");
    await net.settle();
    run(a.db, "ALTER TABLE settings ADD COLUMN note TEXT");
    await captureLocal(a.sql, a.ctx);
    expect(rows(a.db, "SELECT key, value FROM settings")).toEqual([["event", "aaa-new"]]);
    run(reps[1]!.db, "ALTER TABLE settings ADD COLUMN note TEXT");
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT key, value FROM settings")).toEqual([["event", "aaa-new"]]);
  });
});

describe("constraints never block the stream", () => {
  const ROBOTS = "CREATE TABLE robots (id INTEGER PRIMARY KEY, serial TEXT UNIQUE, name TEXT)";

  it("a row violating UNIQUE at the receiver is parked with its reason while the rest of the batch applies", async () => {
    const { reps, net } = await mesh(2, { ddl: [ROBOTS] });
    const [a, b] = reps as [Replica, Replica];
    run(b.db, "INSERT INTO robots (serial, name) VALUES ('S1', 'B robot')");
    run(a.db, "INSERT INTO robots (serial, name) VALUES ('S0', 'A robot 0')");
    run(a.db, "INSERT INTO robots (serial, name) VALUES ('S1', 'A robot 1')");
    run(a.db, "INSERT INTO robots (serial, name) VALUES ('S2', 'A robot 2')");
    await net.capture(0);
    await net.capture(1);
    const result = await net.pullAll(0, 1);
    expect(result.delivered).toBe(3);
    expect(rows(b.db, "SELECT serial, name FROM robots ORDER BY serial")).toEqual([["S0", "A robot 0"], ["S1", "B robot"], ["S2", "A robot 2"]]);
    const p = parked(b);
    expect(p).toHaveLength(1);
    expect(p[0]!.gid.startsWith(a.site)).toBe(true);
    expect(p[0]!.why).toMatch(/UNIQUE/i);
    expect(rows(b.db, "SELECT count(*) FROM _scoutsync_mute"), "capture is unmuted after the failing row was found and parked").toEqual([[0n]]);
    // The stream goes on: later changes still arrive.
    run(a.db, "INSERT INTO robots (serial, name) VALUES ('S3', 'A robot 3')");
    await net.capture(0);
    await net.pullAll(0, 1);
    expect(rows(b.db, "SELECT name FROM robots WHERE serial = 'S3'")).toEqual([["A robot 3"]]);
    // Fixing the conflict locally lets the parked row in.
    run(b.db, "UPDATE robots SET serial = 'S1-b' WHERE name = 'B robot'");
    await net.settle();
    expect(rows(b.db, "SELECT serial, name FROM robots ORDER BY serial")).toEqual([["S0", "A robot 0"], ["S1", "A robot 1"], ["S1-b", "B robot"], ["S2", "A robot 2"], ["S3", "A robot 3"]]);
    expect(parked(b)).toEqual([]);
  });

  it("a batch that deletes a row and gives its UNIQUE value to another row applies whole (deletes go first)", async () => {
    const { reps, net } = await mesh(2, { ddl: [ROBOTS] });
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO robots (id, serial, name) VALUES (1, 'S1', 'old')");
    run(a.db, "INSERT INTO robots (id, serial, name) VALUES (2, 'S2', 'other')");
    await net.settle();
    // In one batch: robot 2 and a new robot 3 take the serials of robots that are deleted.
    run(a.db, "DELETE FROM robots WHERE id = 1");
    run(a.db, "UPDATE robots SET serial = 'S1' WHERE id = 2");
    run(a.db, "INSERT INTO robots (id, serial, name) VALUES (3, 'S2', 'new')");
    await net.capture(0);
    const result = await net.pullAll(0, 1);
    expect(result.delivered).toBe(3);
    expect(parked(b)).toEqual([]);
    expect(rows(b.db, "SELECT id, serial, name FROM robots ORDER BY id")).toEqual([[2n, "S1", "other"], [3n, "S2", "new"]]);
    await converged(net);
  });

  // A batch of 5,000 is written in chunks of 2,000 (apply.ts), each sent before the next is planned.
  it.each([
    { where: "a later chunk", taken: ["S3500"], sent: 3 },
    // Once the first fails, the chunk planned meanwhile is sent already, the last one never.
    { where: "the first, a middle and the last chunk", taken: ["S5", "S3500", "S4999"], sent: 2 },
  ])("a large batch with UNIQUE conflicts in $where parks just those rows and applies the rest", async ({ taken, sent }) => {
    const { reps, net } = await mesh(2, { ddl: [ROBOTS] });
    const [a, b] = reps as [Replica, Replica];
    for (const serial of taken) run(b.db, "INSERT INTO robots (id, serial, name) VALUES (?, ?, 'B robot')", 100_000 + Number(serial.slice(1)), serial);
    await net.capture(1);
    const insert = a.db.prepare("INSERT INTO robots (serial, name) VALUES (?, ?)");
    a.db.exec("BEGIN");
    for (let i = 0; i < 5000; i++) insert.run(`S${i}`, `A robot ${i}`);
    a.db.exec("COMMIT");
    await net.capture(0);
    const { statements, result } = await statementsDuring(b, () => net.pullAll(0, 1, 10_000));
    expect(result.delivered).toBe(5000);
    expect(statements.filter((s) => s.sql.startsWith("SAVEPOINT scoutsync_chunk")), "chunks sent").toHaveLength(sent);
    expect(parked(b).map((p) => p.why)).toEqual(taken.map(() => expect.stringMatching(/UNIQUE/i)));
    const names = new Map((rows(b.db, "SELECT serial, name FROM robots") as [string, string][]).map(([s, n]) => [s, n]));
    expect(names.size).toBe(5000);
    for (let i = 0; i < 5000; i++) expect(names.get(`S${i}`)).toBe(taken.includes(`S${i}`) ? "B robot" : `A robot ${i}`);
    expect(rows(b.db, "SELECT count(*) FROM _scoutsync_mute"), "capture is unmuted").toEqual([[0n]]);
    expect(checkIntegrity(b.db)).toEqual([]);
    // The site's own rows and A's applied rows are not captured again as local writes.
    expect((await captureLocal(b.sql, b.ctx)).captured).toBe(0);
  });

  it("a received update writes only the columns whose value changes (the app's UPDATE OF triggers fire for those alone)", async () => {
    const { reps, net } = await mesh(2, { ddl: [ROBOTS, "CREATE TABLE IF NOT EXISTS renames (robot INTEGER, name TEXT)"] });
    const [a, b] = reps as [Replica, Replica];
    run(b.db, "CREATE TRIGGER robots_renamed AFTER UPDATE OF name ON robots BEGIN INSERT INTO renames VALUES (new.id, new.name); END");
    run(a.db, "INSERT INTO robots (id, serial, name) VALUES (1, 'S1', 'one'), (2, 'S2', 'two')");
    await net.settle();
    run(a.db, "UPDATE robots SET serial = 'S1-new' WHERE id = 1");
    // Written again with the value it has: a newer stamp, the same value.
    run(a.db, "UPDATE robots SET name = 'two' WHERE id = 2");
    await net.capture(0);
    const { statements, result } = await statementsDuring(b, () => net.pullAll(0, 1));
    expect(result.delivered).toBe(2);
    const updates = statements.map((s) => s.sql).filter((sql) => /^(WITH .*\) )?UPDATE "robots"/.test(sql));
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatch(/SET "serial" = [^,]+ FROM|SET "serial" = \? WHERE/);
    expect(rows(b.db, "SELECT id, serial, name FROM robots ORDER BY id")).toEqual([[1n, "S1-new", "one"], [2n, "S2", "two"]]);
    expect(rows(b.db, "SELECT count(*) FROM renames"), "no rename happened").toEqual([[0n]]);
    await converged(net);
  });

  it("rows parked on both sides of a UNIQUE conflict do not make the sites exchange them forever", async () => {
    const { reps, net } = await mesh(2, { ddl: [ROBOTS] });
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO robots (serial, name) VALUES ('S1', 'A robot')");
    run(b.db, "INSERT INTO robots (serial, name) VALUES ('S1', 'B robot')");
    const { quiet } = await net.settle(10);
    expect(parked(a)).toHaveLength(1);
    expect(parked(b)).toHaveLength(1);
    expect(quiet, "the two sites stop sending each other the parked rows").toBe(true);
  });
});

describe("values", () => {
  const VALS = "CREATE TABLE vals (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, n NUMERIC, a)";

  it("a page of big blobs stops at the byte budget, so every batch fits in one request, and all still arrives", async () => {
    const { reps, net } = await mesh(2, { ddl: [VALS] });
    const [a, b] = reps as [Replica, Replica];
    const photo = Buffer.alloc(1024 * 1024, 7);
    for (let i = 1; i <= 30; i++) run(a.db, "INSERT INTO vals (id, b) VALUES (?, ?)", i, photo);
    await net.capture(0);
    const page = await readChanges(a.sql, a.ctx, 0, 1000);
    expect(page.more).toBe(true);
    expect(page.changes.length).toBeGreaterThan(0);
    expect(page.changes.length).toBeLessThan(30);
    expect(JSON.stringify(page.changes).length).toBeLessThan(MAX_BATCH_BYTES);
    const next = await readChanges(a.sql, a.ctx, page.last, 1000);
    expect(next.changes[0]?.g, "the next page starts right after the last row sent").not.toBe(page.changes.at(-1)?.g);
    await converged(net);
    expect(rows(b.db, "SELECT count(*), sum(length(b)) FROM vals")).toEqual([[30n, 30n * 1024n * 1024n]]);
  });

  it("64-bit integers, reals that look integral, unicode text and blobs round-trip exactly", async () => {
    const { reps, net } = await mesh(2, { ddl: [VALS] });
    const [a, b] = reps as [Replica, Replica];
    const blob = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const cases: unknown[][] = [
      [2n ** 63n - 1n, 2.0, "🤖 Ünïcødé 日本語", blob, 2.5, 2.0],
      [-(2n ** 63n), 0.1, "quote ' \" back\\slash", Buffer.alloc(0), 10n, 3n],
      [2n ** 53n + 1n, 1e308, "", Buffer.from([0]), 1e20, "4"],
      [0n, -1.5, "line\nbreak\ttab", null, null, Buffer.from([0xff, 0x00])],
      [-1n, 5e-324, "\u{1F600}\u200D", Buffer.from("text as blob"), -0.5, 2n ** 63n - 1n],
    ];
    for (const c of cases) run(a.db, "INSERT INTO vals (i, r, t, b, n, a) VALUES (?, ?, ?, ?, ?, ?)", ...c);
    const typed = "SELECT i, typeof(i), r, typeof(r), t, b, typeof(b), n, typeof(n), a, typeof(a) FROM vals ORDER BY id";
    await converged(net);
    expect(rows(b.db, typed)).toEqual(rows(a.db, typed));
    expect(rows(b.db, "SELECT typeof(r), typeof(a) FROM vals WHERE id = 1")).toEqual([["real", "real"]]);
    // And back: an update on B of every column arrives on A exactly.
    run(b.db, "UPDATE vals SET i = ?, r = ?, a = ? WHERE id = 2", 2n ** 62n + 3n, 4.0, 8.0);
    await converged(net);
    expect(rows(a.db, "SELECT i, r, typeof(r), a, typeof(a) FROM vals WHERE id = 2")).toEqual([[2n ** 62n + 3n, 4, "real", 8, "real"]]);
  });

  it.each([
    ["infinity", "INSERT INTO vals (id, r, a) VALUES (1, 9e999, -9e999)"],
    ["text with a NUL character", "INSERT INTO vals (id, t) VALUES (1, 'a' || char(0) || 'b')"],
  ])("edge values round-trip too: %s", async (_name, sql) => {
    const { reps, net } = await mesh(2, { ddl: [VALS] });
    const [a, b] = reps as [Replica, Replica];
    run(a.db, sql);
    const typed = "SELECT r, typeof(r), a, typeof(a), hex(t), typeof(t) FROM vals ORDER BY id";
    await converged(net);
    expect(rows(b.db, typed)).toEqual(rows(a.db, typed));
  });
});

describe("inserts above a table's high-water mark", () => {
  const logged = (r: Replica) => rows(r.db, "SELECT count(*) FROM _scoutsync_log")[0]![0];

  it("write no log row and are captured from the table itself; updates and deletes are still logged", async () => {
    const { reps, net } = await mesh(2);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 254, 'first')");
    await net.settle();
    expect(rows(a.db, "SELECT tbl, hw FROM _scoutsync_hw WHERE tbl = 'teams'")).toEqual([["teams", 1n]]);
    run(a.db, "INSERT INTO teams (number, name) VALUES (1678, 'second')");
    run(a.db, "INSERT INTO pit (team, event, note) VALUES (254, 'qual', 'a primary-key table logs every insert')");
    expect(logged(a)).toBe(1n);
    expect((await captureLocal(a.sql, a.ctx)).captured).toBe(2);
    expect(rows(a.db, "SELECT hw FROM _scoutsync_hw WHERE tbl = 'teams'")).toEqual([[2n]]);
    run(a.db, "UPDATE teams SET name = 'second, renamed' WHERE id = 2");
    run(a.db, "DELETE FROM teams WHERE id = 1");
    expect(logged(a)).toBe(2n);
    await converged(net);
    expect(rows(b.db, "SELECT id, number, name FROM teams")).toEqual([[2n, 1678n, "second, renamed"]]);
  });

  it("a row inserted, deleted and its rowid taken again between two captures: every site gets the new row, and only it", async () => {
    const { reps, net } = await mesh(3);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 1, 'kept')");
    await net.settle();
    run(a.db, "INSERT INTO teams (number, name) VALUES (2, 'gone')");
    run(a.db, "DELETE FROM teams WHERE id = 2");
    run(a.db, "INSERT INTO teams (number, name) VALUES (3, 'new')");
    expect(rows(a.db, "SELECT id FROM teams WHERE name = 'new'")).toEqual([[2n]]);
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT id, number, name FROM teams ORDER BY id")).toEqual([[1n, 1n, "kept"], [2n, 3n, "new"]]);
    // The first row 2 was never captured, so nothing of it travels: one identity per row left.
    expect(rows(b.db, "SELECT count(*) FROM _scoutsync_rows WHERE tbl = 'teams'")).toEqual([[2n]]);
  });

  it("a row an apply wrote above the mark, then replaced by the app (INSERT OR REPLACE, which fires no delete trigger), is captured as the app's write", async () => {
    const { reps, net } = await mesh(2);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (50, 1, 'from A')");
    await net.capture(0);
    await net.pullAll(0, 1);
    // The apply itself raised B's mark (no capture ran on B): B's agent sees nothing to capture.
    expect(rows(b.db, "SELECT hw FROM _scoutsync_hw WHERE tbl = 'teams'")).toEqual([[50n]]);
    expect(rows(b.db, freshRowsSql(["teams", "matches", "entries"]))).toEqual([[0n]]);
    await sleep(2);
    run(b.db, "INSERT OR REPLACE INTO teams (id, number, name) VALUES (50, 2, 'replaced on B')");
    await converged(net);
    for (const r of reps) expect(rows(r.db, "SELECT id, number, name FROM teams")).toEqual([[50n, 2n, "replaced on B"]]);
  });

  it("a table the app drops fails no capture and no apply (the quick checks name it, and reflection takes over)", async () => {
    const { reps, net } = await mesh(2);
    const [a, b] = reps as [Replica, Replica];
    run(a.db, "INSERT INTO teams (id, number, name) VALUES (1, 1, 'x')");
    run(a.db, "INSERT INTO matches (id, label) VALUES (1, 'Q1')");
    await net.settle();
    run(a.db, "DROP TABLE teams");
    await expect(captureLocal(a.sql, a.ctx)).resolves.toMatchObject({ captured: 0 });
    run(a.db, "DROP TABLE entries");
    run(b.db, "INSERT INTO matches (id, label) VALUES (2, 'Q2')");
    await net.capture(1);
    const page = await readChanges(b.sql, b.ctx, 0, 100);
    // B's team has no table on A any more: it is kept aside (parked), as for any table a site lacks.
    await expect(applyRemote(a.sql, a.ctx, { from: b.site }, page.changes)).resolves.toMatchObject({ applied: 1, parked: 1 });
    expect(rows(a.db, "SELECT id, label FROM matches ORDER BY id")).toEqual([[1n, "Q1"], [2n, "Q2"]]);
    expect(rows(a.db, "SELECT tbl FROM _scoutsync_hw ORDER BY tbl")).toEqual([["matches"]]);
    run(a.db, "INSERT INTO matches (id, label) VALUES (3, 'Q3')");
    await expect(captureLocal(a.sql, a.ctx)).resolves.toMatchObject({ captured: 1 });
  });
});

describe("writes by other processes", () => {
  function python(file: string, script: string): void {
    execFileSync("python3", ["-c", `import sqlite3, sys\ncon = sqlite3.connect(sys.argv[1])\n${script}\ncon.commit()\ncon.close()`, file], { stdio: "pipe" });
  }

  it("writes made through python3's sqlite3 (SQLite 3.40) are captured and replicated", async () => {
    const dir = mkdtempSync(join(tmpdir(), "scoutsync-py-"));
    tmpDirs.push(dir);
    const file = join(dir, "app.db");
    // The app created its database and rows before scoutsync ever ran.
    python(file, `con.executescript(${JSON.stringify(SCHEMA.join(";\n") + ";")})\ncon.execute("INSERT INTO matches (id, label) VALUES (1, 'Q1')")`);
    const a = newReplica("A", siteId(1), { file });
    const b = newReplica("B", siteId(2), { ddl: SCHEMA });
    open.push(a, b);
    const net = await new Network([a, b]).start(); // installs the triggers in the app's file
    python(
      file,
      [
        "con.execute(\"INSERT INTO entries (match_id, team, score, note, photo) VALUES (1, '254', 2.0, 'ünï', x'00ff10')\")",
        "con.execute('INSERT INTO teams (number, name) VALUES (?, ?)', (2**63 - 1, 'big'))",
        "con.execute('INSERT INTO teams (number, name) VALUES (?, ?)', (2, 'gone'))",
        "con.execute(\"UPDATE matches SET label = 'Q1 (replay)' WHERE id = 1\")",
        "con.execute(\"DELETE FROM teams WHERE name = 'gone'\")",
        "con.execute(\"INSERT INTO settings VALUES ('event', 'CMP') ON CONFLICT (key) DO UPDATE SET value = excluded.value\")",
        "con.execute(\"INSERT INTO pit (team, event, note) VALUES (254, 'qual', 'py')\")",
      ].join("\n"),
    );
    const { captured } = await captureLocal(a.sql, a.ctx);
    // Seven writes; the team inserted and deleted again before this capture never existed for the others.
    expect(captured).toBe(6);
    await converged(net);
    expect(rows(b.db, "SELECT m.label, e.team, e.score, typeof(e.score), e.note, hex(e.photo) FROM entries e JOIN matches m ON m.id = e.match_id")).toEqual([
      ["Q1 (replay)", "254", 2, "real", "ünï", "00FF10"],
    ]);
    expect(rows(b.db, "SELECT number, name FROM teams")).toEqual([[2n ** 63n - 1n, "big"]]);
    // And back into the file python reads.
    run(b.db, "UPDATE teams SET name = 'from B' WHERE name = 'big'");
    await converged(net);
    a.db.close();
    const out = execFileSync("python3", ["-c", "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT name FROM teams').fetchall())", file]).toString().trim();
    expect(out).toBe("[('from B',)]");
  });
});
