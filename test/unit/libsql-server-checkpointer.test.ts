import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Checkpointer, failureReporter, type CheckpointResult } from "../../local-agent/libsql-server/checkpointer.js";
import { Connection } from "../../local-agent/libsql-server/connection.js";
import { executeRequest } from "../../local-agent/libsql-server/execute.js";
import { DatabasePool } from "../../local-agent/libsql-server/pool.js";
import { StreamRegistry, type Stream } from "../../local-agent/libsql-server/streams.js";

const dir = mkdtempSync(join(tmpdir(), "libsql-server-checkpointer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((close) => close()));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited > limitMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A WAL database with one table, and a connection of ours (no automatic checkpoints) to write it. */
function walFile(): { file: string; writer: Database.Database } {
  const file = join(dir, `db-${++n}.db`);
  const writer = new Database(file);
  writer.exec("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)");
  closers.push(() => writer.close());
  return { file, writer };
}

/** Writes `pages` rows of one page each, in one transaction. */
function writePages(db: Database.Database, pages: number): void {
  const ins = db.prepare("INSERT INTO t (b) VALUES (randomblob(4000))");
  db.exec("BEGIN");
  for (let i = 0; i < pages; i++) ins.run();
  db.exec("COMMIT");
}

function checkpointer(file: string, opts: { walBytes?: number; gapMs?: number; idleExitMs?: number } = {}): { cp: Checkpointer; results: CheckpointResult[] } {
  const cp = new Checkpointer(file, opts);
  const results: CheckpointResult[] = [];
  cp.onResult = (r) => results.push(r);
  closers.push(() => cp.close());
  return { cp, results };
}

describe("checkpointer", () => {
  it("copies the whole WAL back into the database file on its thread", async () => {
    const { file, writer } = walFile();
    writePages(writer, 300);
    const before = statSync(file).size;
    const { cp, results } = checkpointer(file);
    cp.request();
    await until(() => results.length === 1, "a checkpoint");
    const r = results[0]!;
    expect("ok" in r && r.ok[0], JSON.stringify(r)).toBe(0);
    if (!("ok" in r)) throw new Error(r.error);
    expect(r.ok[1]).toBeGreaterThanOrEqual(300);
    expect(r.ok[2], "every frame copied back").toBe(r.ok[1]);
    expect(statSync(file).size - before).toBeGreaterThanOrEqual(300 * 4096);
    expect(cp.hasThread).toBe(true);
  });

  it("tells whether the WAL is past its threshold", () => {
    const { file, writer } = walFile();
    const { cp } = checkpointer(file, { walBytes: 1024 * 1024 });
    writePages(writer, 20);
    expect(cp.walOver()).toBe(false);
    writePages(writer, 300);
    expect(cp.walOver()).toBe(true);
    expect(checkpointer(join(dir, "no-such.db")).cp.walOver(), "no WAL file").toBe(false);
  });

  it("folds the requests made while one runs, or within the gap after it, into one more checkpoint", async () => {
    const { file, writer } = walFile();
    const { cp, results } = checkpointer(file, { gapMs: 200 });
    for (let i = 0; i < 5; i++) {
      writePages(writer, 10);
      cp.request();
    }
    await until(() => results.length === 2, "the second checkpoint");
    await sleep(600);
    expect(results).toHaveLength(2);
    const last = results[1]!;
    if (!("ok" in last)) throw new Error(last.error);
    expect(last.ok[2], "the folded checkpoint copied the later writes too").toBe(last.ok[1]);
  });

  it("tries again, a bounded number of times, while a reader keeps frames from being copied", async () => {
    const { file, writer } = walFile();
    writePages(writer, 5);
    const reader = new Database(file);
    closers.push(() => reader.close());
    reader.exec("BEGIN");
    reader.prepare("SELECT count(*) FROM t").get();
    writePages(writer, 20);
    const { cp, results } = checkpointer(file, { gapMs: 10 });
    cp.request();
    await until(() => results.length === 6, "the first checkpoint and its five retries");
    await sleep(200);
    expect(results, "no retry past the bound").toHaveLength(6);
    for (const r of results) {
      if (!("ok" in r)) throw new Error(r.error);
      expect(r.ok[2]).toBeLessThan(r.ok[1]);
    }
    reader.exec("COMMIT");
    cp.request();
    await until(() => results.length === 7, "a checkpoint once the reader is done");
    const done = results[6]!;
    if (!("ok" in done)) throw new Error(done.error);
    expect(done.ok[2]).toBe(done.ok[1]);
  });

  it("reports a thread that cannot open the file, and starts a new one at the next request", async () => {
    const { cp, results } = checkpointer(join(dir, "missing-folder", "app.db"), { gapMs: 10 });
    cp.request();
    await until(() => results.length === 1, "the failure");
    expect("error" in results[0]!).toBe(true);
    cp.request();
    await until(() => results.length === 2, "the second failure");
    expect("error" in results[1]!).toBe(true);
  });

  it("ends its thread when idle, and a later request starts it again", async () => {
    const { file, writer } = walFile();
    writePages(writer, 3);
    const { cp, results } = checkpointer(file, { gapMs: 10, idleExitMs: 50 });
    cp.request();
    await until(() => results.length === 1, "a checkpoint");
    await until(() => !cp.hasThread, "the idle thread to end");
    writePages(writer, 3);
    cp.request();
    await until(() => results.length === 2, "a checkpoint on a new thread");
    const r = results[1]!;
    if (!("ok" in r)) throw new Error(r.error);
    expect(r.ok[2]).toBe(r.ok[1]);
    cp.close();
    expect(cp.hasThread).toBe(false);
    cp.request();
    await sleep(100);
    expect(results, "nothing runs after close").toHaveLength(2);
  });
});

/** A pool serving a new file, and how to run SQL on its streams as the server does. */
async function servedPool(opts: { walMaxBytes?: number; onQuiet?: () => void } = {}) {
  const file = join(dir, `pool-${++n}.db`);
  const pool = new DatabasePool("app", file, opts);
  await pool.init();
  const registry = new StreamRegistry(100, 3, () => undefined);
  closers.push(() => {
    registry.closeAll();
    pool.close();
  });
  const run = (stream: Stream, sql: string): void => {
    const { result } = executeRequest(stream, { type: "execute", stmt: { sql } });
    if (result.type === "error") throw new Error(result.error.message);
  };
  /** Runs `sqls` on one stream, then closes it (the connection goes back to the pool). */
  const inStream = (...sqls: string[]): void => {
    const stream = registry.open(pool);
    try {
      for (const sql of sqls) run(stream, sql);
    } finally {
      registry.dispose(stream);
    }
  };
  return { file, pool, registry, run, inStream };
}

describe("failureReporter", () => {
  it("logs a failure once, again when its reason changes, and again after a success", () => {
    const lines: string[] = [];
    const report = failureReporter("app", (l) => lines.push(l));
    for (const r of [{ error: "disk I/O error" }, { error: "disk I/O error" }, { error: "database is locked" }, { ok: [0, 3, 3] }, { error: "database is locked" }] as CheckpointResult[]) report(r);
    expect(lines).toEqual(["checkpoint of app failed: disk I/O error", "checkpoint of app failed: database is locked", "checkpoint of app failed: database is locked"]);
  });
});

describe("the pool's connections and checkpoints", () => {
  it("never copy the WAL back when they commit; the stream that wrote asks the thread to", async () => {
    const { file, pool, registry, run, inStream } = await servedPool();
    const results: CheckpointResult[] = [];
    pool.checkpointer.onResult = (r) => results.push(r);

    inStream("SELECT 1");
    await sleep(100);
    expect(results, "a stream that only read asks for nothing").toHaveLength(0);

    inStream("CREATE TABLE t (b BLOB)", "INSERT INTO t VALUES (randomblob(4000))");
    await sleep(100);
    expect(results, "a small write starts no thread").toHaveLength(0);
    expect(pool.checkpointer.hasThread).toBe(false);

    const writing = registry.open(pool);
    run(writing, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO t SELECT randomblob(4000) FROM n");
    const committed = statSync(file).size;
    expect(committed, "2,000 pages committed, none copied back by the commit").toBeLessThan(100 * 4096);
    registry.dispose(writing);
    await until(() => results.length === 1, "the thread's checkpoint");
    const r = results[0]!;
    if (!("ok" in r)) throw new Error(r.error);
    expect(r.ok[2]).toBe(r.ok[1]);
    expect(statSync(file).size).toBeGreaterThan(2000 * 4096);

    const conn = new Connection(file);
    closers.push(() => conn.close());
    expect(conn.queryUncached("PRAGMA wal_autocheckpoint")).toEqual([[0n]]);
  });
});

describe("a WAL that a stream of writes never lets start over", () => {
  it("is copied back by the writer itself past its cap, so the next write starts it over", async () => {
    const { file, pool, inStream: write } = await servedPool({ walMaxBytes: 1024 * 1024 });
    const framesInWal = () => {
      const db = new Database(file);
      try {
        // A checkpoint that cannot run (a writer busy) still reports; here nothing else writes.
        return (db.prepare("PRAGMA wal_checkpoint(PASSIVE)").raw(true).get() as number[])[1]!;
      } finally {
        db.close();
      }
    };
    write("CREATE TABLE t (b BLOB)");
    // 2 MB: past the 1 MiB cap, under the ~4 MiB at which the thread would be asked.
    write("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO t SELECT randomblob(4000) FROM n");
    expect(pool.checkpointer.hasThread).toBe(false);
    write("INSERT INTO t VALUES (x'00')");
    expect(framesInWal(), "the WAL started over at the write after the cap").toBeLessThan(20);
  });

  it("tells its owner of each quiet moment, once the caches were handed back (where the db child collects its heap)", async () => {
    let quiet = 0;
    const { inStream } = await servedPool({ onQuiet: () => quiet++ });
    inStream("CREATE TABLE t (x)", "INSERT INTO t VALUES (1)");
    expect(quiet, "not while streams come and go").toBe(0);
    await until(() => quiet === 1, "the quiet moment");
    inStream("SELECT * FROM t");
    await until(() => quiet === 2, "the next quiet moment");
    await sleep(1_200);
    expect(quiet, "one per quiet moment, none while nothing happens").toBe(2);
  });

  it("is left to grow under the cap: the thread or the quiet moment copies it", async () => {
    const { file, inStream } = await servedPool();
    inStream("CREATE TABLE t (b BLOB)", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO t SELECT randomblob(4000) FROM n", "INSERT INTO t VALUES (x'00')");
    expect(statSync(`${file}-wal`).size, "the later write went on after the 500 pages").toBeGreaterThan(500 * 4000);
  });
});
