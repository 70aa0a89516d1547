/** The agent's loops, driven step by step: coalescing, backoff, quiet failure logs, commit detection. */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { Agent, CAPTURE_PATH, CAPTURE_PENDING_PATH, SETTLE_PATH, TICK_PATH } from "../../local-agent/agent.js";
import { backoffDelay } from "../../local-agent/backoff.js";
import { Coalesced } from "../../local-agent/coalesce.js";
import { heapKeeper } from "../../local-agent/collect.js";
import { DbWatch } from "../../local-agent/db-watch.js";
import { captureLocal } from "../../functions/db/engine.js";
import { openDb, sqlDb } from "../support/libsql-db.js";
import { FailureLog } from "../../local-agent/failure-log.js";
import { Ticker } from "../../local-agent/ticker.js";
import type { Timers } from "../../local-agent/timers.js";

type Db = { exec(sql: string): unknown; prepare(sql: string): { raw(on: boolean): { get(): unknown } }; close(): void };
const Database = createRequire(import.meta.url)("libsql") as new (file: string) => Db;
const dir = mkdtempSync(path.join(tmpdir(), "scoutsync-agent-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Timers that fire only when the test says so. */
function manualTimers() {
  const queue: { fn: () => void; ms: number; id: number }[] = [];
  let next = 0;
  const timers: Timers = {
    set: (fn, ms) => {
      queue.push({ fn, ms, id: ++next });
      return next;
    },
    clear: (id) => {
      const i = queue.findIndex((t) => t.id === id);
      if (i >= 0) queue.splice(i, 1);
    },
  };
  return {
    timers,
    pending: () => queue.map((t) => t.ms),
    fireAll: () => queue.splice(0).forEach((t) => t.fn()),
  };
}

/** A call whose completions the test controls. */
function controlledCall() {
  const waiting: { resolve(): void; reject(e: Error): void }[] = [];
  let calls = 0;
  return {
    call: () =>
      new Promise<void>((resolve, reject) => {
        calls++;
        waiting.push({ resolve, reject });
      }),
    calls: () => calls,
    finish: () => waiting.shift()?.resolve(),
    fail: (msg = "boom") => waiting.shift()?.reject(new Error(msg)),
  };
}

const settle = () => new Promise((r) => setImmediate(r));

describe("Coalesced", () => {
  it("keeps one call in flight and collapses triggers during it into exactly one more", async () => {
    const c = controlledCall();
    const t = manualTimers();
    const co = new Coalesced(c.call, { onError: () => undefined, onSuccess: () => undefined, timers: t.timers });
    co.trigger();
    for (let i = 0; i < 100; i++) co.trigger();
    expect(c.calls()).toBe(1);
    c.finish();
    await settle();
    expect(c.calls()).toBe(2);
    c.finish();
    await settle();
    expect(c.calls()).toBe(2);
    expect(co.inFlight).toBe(false);
  });

  it("retries a failed call after a backoff, even with no new trigger", async () => {
    const c = controlledCall();
    const t = manualTimers();
    const errors: unknown[] = [];
    const co = new Coalesced(c.call, { onError: (e) => errors.push(e), onSuccess: () => undefined, timers: t.timers });
    co.trigger();
    c.fail();
    await settle();
    expect(errors).toHaveLength(1);
    expect(t.pending()).toHaveLength(1);
    co.trigger(); // during the backoff: waits for it
    expect(c.calls()).toBe(1);
    t.fireAll();
    expect(c.calls()).toBe(2);
    c.finish();
    await settle();
    expect(c.calls()).toBe(2);
  });

  it("stop() cancels a pending retry and waits for the call in flight", async () => {
    const c = controlledCall();
    const t = manualTimers();
    const co = new Coalesced(c.call, { onError: () => undefined, onSuccess: () => undefined, timers: t.timers });
    co.trigger();
    co.trigger();
    const stopped = co.stop();
    c.finish();
    await stopped;
    expect(c.calls()).toBe(1);
    co.trigger();
    expect(c.calls()).toBe(1);
  });
});

describe("Ticker", () => {
  it("ticks at once on start, then at the interval, backs off while failing (capped), and recovers", async () => {
    const c = controlledCall();
    const t = manualTimers();
    const tk = new Ticker(c.call, { intervalMs: 2000, capMs: 30_000, onError: () => undefined, onSuccess: () => undefined, timers: t.timers });
    tk.start();
    expect(t.pending()).toEqual([0]);
    t.fireAll();
    c.finish();
    await settle();
    expect(t.pending()).toEqual([2000]);
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      t.fireAll();
      c.fail();
      await settle();
      delays.push(t.pending()[0] ?? -1);
    }
    expect(delays.every((d) => d >= 1000 && d <= 30_000)).toBe(true);
    expect(delays.at(-1)).toBeGreaterThanOrEqual(15_000);
    t.fireAll();
    c.finish();
    await settle();
    expect(t.pending()).toEqual([2000]);
    await tk.stop();
    expect(t.pending()).toEqual([]);
  });

  it("tickOnce joins a tick in flight instead of overlapping", async () => {
    const c = controlledCall();
    const tk = new Ticker(c.call, { intervalMs: 2000, capMs: 30_000, onError: () => undefined, onSuccess: () => undefined, timers: manualTimers().timers });
    const a = tk.tickOnce();
    const b = tk.tickOnce();
    expect(c.calls()).toBe(1);
    c.finish();
    expect(await a).toBe(true);
    expect(await b).toBe(true);
  });
});

describe("backoffDelay", () => {
  it("doubles from the base, stays within [half, full], and is capped", () => {
    expect(backoffDelay(1, 250, 30_000, () => 0)).toBe(125);
    expect(backoffDelay(1, 250, 30_000, () => 1)).toBe(250);
    expect(backoffDelay(3, 250, 30_000, () => 1)).toBe(1000);
    expect(backoffDelay(50, 250, 30_000, () => 1)).toBe(30_000);
    expect(backoffDelay(50, 250, 30_000, () => 0)).toBe(15_000);
  });
});

describe("FailureLog", () => {
  it("logs the first failure, then at most one line per interval with a count, then recovery", () => {
    let now = 0;
    const lines: string[] = [];
    const log = new FailureLog("sync tick", (l) => lines.push(l), 30_000, () => now);
    for (let i = 0; i < 100; i++) {
      log.failure("ECONNREFUSED");
      now += 1000;
    }
    expect(lines).toEqual([
      "sync tick failed: ECONNREFUSED",
      "sync tick failed: ECONNREFUSED (29 similar failures since the last report)",
      "sync tick failed: ECONNREFUSED (29 similar failures since the last report)",
      "sync tick failed: ECONNREFUSED (29 similar failures since the last report)",
    ]);
    log.success();
    expect(lines.at(-1)).toBe("sync tick works again after 100 failed attempt(s)");
    log.success();
    expect(lines).toHaveLength(5);
  });
});

describe("DbWatch", () => {
  it("reports commits made by another connection, once each, and nothing otherwise", () => {
    const file = path.join(dir, "watch.db");
    const app = new Database(file);
    app.exec("PRAGMA journal_mode=WAL; CREATE TABLE t(x)");
    let changes = 0;
    const errors: unknown[] = [];
    const w = new DbWatch(file, () => changes++, { onError: (e) => errors.push(e) });
    expect(w.check()).toBe(true); // the first look always counts: commits made while we were away
    expect(w.check()).toBe(false);
    app.exec("INSERT INTO t VALUES (1)");
    expect(w.check()).toBe(true);
    expect(w.check()).toBe(false);
    app.exec("BEGIN; INSERT INTO t VALUES (2); INSERT INTO t VALUES (3); COMMIT");
    expect(w.check()).toBe(true);
    expect(changes).toBe(3);
    expect(errors).toEqual([]);
    w.stop();
    app.close();
  });

  it("its capture view tells of logged writes and of inserts above a mark (which no log row tells of), and cannot tell once a marked table is gone", async () => {
    const file = path.join(dir, "view.db");
    const app = new Database(file);
    app.exec("PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, x); CREATE TABLE u(id INTEGER PRIMARY KEY, y)");
    const engine = openDb(file);
    const ctx = { site: "00000000000000aa", now: () => Date.now(), cache: {} };
    const captureNow = () => captureLocal(sqlDb(engine), ctx);
    await captureNow();
    const w = new DbWatch(file, () => undefined, { onError: () => undefined });
    w.check();
    const schema = w.captureView()?.schema;
    expect(w.captureView()).toEqual({ schema, logged: false });
    app.exec("INSERT INTO t (x) VALUES ('new')");
    expect(w.captureView(), "an insert above the mark").toEqual({ schema, logged: true });
    await captureNow();
    expect(w.captureView()).toEqual({ schema, logged: false });
    app.exec("UPDATE t SET x = 'edited'");
    expect(w.captureView(), "a logged update").toEqual({ schema, logged: true });
    await captureNow();
    app.exec("DROP TABLE u");
    expect(w.captureView(), "a marked table is gone: cannot tell").toBeNull();
    await captureNow();
    expect(w.captureView()).toEqual({ schema: expect.any(Number), logged: false });
    app.exec("INSERT INTO t (x) VALUES ('after the drop')");
    expect(w.captureView()?.logged).toBe(true);
    w.stop();
    engine.close();
    app.close();
  });

  it("in a burst of commits (looked at once per few ms, not at every file event) the last commit is never missed", async () => {
    const file = path.join(dir, "burst.db");
    const app = new Database(file);
    app.exec("PRAGMA journal_mode=WAL; CREATE TABLE t(x)");
    const seen: number[] = [];
    const version = app.prepare("SELECT count(*) FROM t").raw(true);
    // A long poll: only the file watch can report within the loop below.
    const w = new DbWatch(file, () => seen.push(Number((version.get() as unknown[])[0])), { onError: () => undefined, pollMs: 60_000 });
    w.start();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 200; i++) {
        app.exec("INSERT INTO t VALUES (randomblob(5000))");
        // Let the watch's events in between commits, as when another process writes.
        await new Promise((r) => setImmediate(r));
      }
      for (let i = 0; i < 400 && seen.at(-1) !== 200 * (round + 1); i++) await new Promise((r) => setTimeout(r, 5));
      expect(seen.at(-1), `round ${round}: the burst's last commit is reported`).toBe(200 * (round + 1));
    }
    w.stop();
    app.close();
  });

  it("polls every 250 ms when the folder cannot be watched, and every 2 s beside a watch", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    try {
      const cases = [
        // The folder does not exist yet: no watch can be set, the poll is the only signal.
        { folder: path.join(dir, "later-folder"), firstPollMs: 250 },
        { folder: path.join(dir, "watched-folder"), firstPollMs: 2_000 },
      ];
      mkdirSync(cases[1]!.folder);
      for (const { folder, firstPollMs } of cases) {
        const file = path.join(folder, "app.db");
        let changes = 0;
        const w = new DbWatch(file, () => changes++, { onError: () => undefined });
        w.start();
        mkdirSync(folder, { recursive: true });
        const app = new Database(file);
        app.exec("CREATE TABLE t(x)");
        app.close();
        // The test never yields to I/O, so what the watch heard is not delivered: only polls count.
        vi.advanceTimersByTime(firstPollMs - 1);
        expect(changes, `${folder}: no poll before ${firstPollMs} ms`).toBe(0);
        vi.advanceTimersByTime(1);
        expect(changes, `${folder}: the poll at ${firstPollMs} ms finds the new database`).toBe(1);
        w.stop();
      }
    } finally {
      vi.useRealTimers();
    }
  });

  it("reports the missing file as an error, then picks it up once it exists", () => {
    const file = path.join(dir, "later.db");
    const errors: unknown[] = [];
    let changes = 0;
    const w = new DbWatch(file, () => changes++, { onError: (e) => errors.push(e) });
    expect(w.check()).toBe(false);
    expect(errors).toHaveLength(1);
    const app = new Database(file);
    app.exec("CREATE TABLE t(x)");
    expect(w.check()).toBe(true);
    expect(changes).toBe(1);
    w.stop();
    app.close();
  });
});

describe("Agent", () => {
  it("syncOnce posts one capture, then one tick", async () => {
    const posted: string[] = [];
    const agent = new Agent({ post: async (p) => void posted.push(p), log: () => undefined, timers: manualTimers().timers });
    expect(await agent.syncOnce()).toEqual({ ticked: true });
    expect(posted).toEqual([CAPTURE_PATH, TICK_PATH]);
    await agent.stop();
  });

  it("a commit to the app database leads to a capture request (watch + poll)", async () => {
    const file = path.join(dir, "agent.db");
    const app = new Database(file);
    app.exec("PRAGMA journal_mode=WAL; CREATE TABLE t(x)");
    const posted: string[] = [];
    const agent = new Agent({ post: async (p) => void posted.push(p), log: () => undefined, dbFile: file, tickMs: 3_600_000, pollMs: 50 });
    agent.start();
    await waitFor(() => posted.length >= 1);
    const before = posted.length;
    app.exec("INSERT INTO t VALUES (42)");
    await waitFor(() => posted.slice(before).includes(CAPTURE_PATH));
    // Besides the one tick at start (the tick interval is an hour), every post is a capture.
    expect(posted.filter((p) => p !== CAPTURE_PATH)).toEqual([TICK_PATH]);
    await agent.stop();
    app.close();
  });

  it("asks its worker to capture only when the capture log holds something or the schema moved", async () => {
    const file = path.join(dir, "quiet.db");
    const app = new Database(file);
    app.exec("PRAGMA journal_mode=WAL; CREATE TABLE _scoutsync_log (id INTEGER PRIMARY KEY, x); CREATE TABLE _scoutsync_hw (tbl TEXT PRIMARY KEY, hw INTEGER NOT NULL) WITHOUT ROWID; CREATE TABLE t(x)");
    const posted: string[] = [];
    const isCapture = (p: string) => p === CAPTURE_PATH || p === CAPTURE_PENDING_PATH;
    const captures = () => posted.filter(isCapture).length;
    const agent = new Agent({
      post: async (p) => {
        posted.push(p);
        // What the worker's capture does: it empties the log.
        if (isCapture(p)) app.exec("DELETE FROM _scoutsync_log");
      },
      log: () => undefined,
      dbFile: file,
      timers: manualTimers().timers,
    });
    await agent.syncOnce();
    expect(captures(), "the first look: whatever was written while the agent was away").toBe(1);
    app.exec("INSERT INTO t VALUES (1)"); // the worker's own apply of received rows: written muted, nothing logged, no mark to be above
    await agent.syncOnce();
    expect(captures()).toBe(1);
    app.exec("INSERT INTO _scoutsync_log (x) VALUES (1)"); // an app write, logged by its trigger
    await agent.syncOnce();
    expect(captures()).toBe(2);
    expect(posted.filter(isCapture), "a logged write is named pending: the worker need not look for it again").toEqual([CAPTURE_PATH, CAPTURE_PENDING_PATH]);
    app.exec("CREATE TABLE t2(x)"); // a new table: the worker must give it triggers
    await agent.syncOnce();
    expect(captures()).toBe(3);
    expect(posted.filter(isCapture).at(-1), "a schema change alone is not a pending write").toBe(CAPTURE_PATH);
    await agent.syncOnce();
    expect(captures()).toBe(3);
    expect(posted.filter((p) => p === TICK_PATH)).toHaveLength(5);
    await agent.stop();
    app.close();
  });

  it("a failing worker is logged quietly and never throws", async () => {
    const lines: string[] = [];
    const agent = new Agent({
      post: async () => {
        throw new Error("/api/sync/tick: HTTP 404");
      },
      log: (l) => lines.push(l),
      timers: manualTimers().timers,
    });
    for (let i = 0; i < 10; i++) expect(await agent.ticker.tickOnce()).toBe(false);
    expect(lines).toEqual(["sync tick failed: /api/sync/tick: HTTP 404"]);
    await agent.stop();
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("tick hint", () => {
  it("the worker's nextTickMs sets the next delay (clamped to the cap); failures still back off", async () => {
    const t = manualTimers();
    let answer: unknown = { nextTickMs: 10_000 };
    let fail = false;
    const agent = new Agent({
      post: async () => {
        if (fail) throw new Error("down");
        return answer;
      },
      log: () => undefined,
      timers: t.timers,
    });
    agent.start();
    t.fireAll();
    await settle();
    expect(t.pending()).toEqual([10_000]);
    answer = { nextTickMs: 10_000_000 };
    t.fireAll();
    await settle();
    expect(t.pending()).toEqual([30_000]);
    answer = {};
    t.fireAll();
    await settle();
    expect(t.pending()).toEqual([2000]);
    fail = true;
    t.fireAll();
    await settle();
    expect(t.pending()[0]).toBeLessThanOrEqual(2000);
    await agent.stop();
  });

  it("makes the settle call the worker asks for, once, and collects its own heap when the worker says settled", async () => {
    const t = manualTimers();
    const calls: string[] = [];
    const answers: Record<string, unknown[]> = {
      [TICK_PATH]: [{ settled: false, settleInMs: 3000, nextTickMs: 10_000 }, { settled: false, settleInMs: 3000, nextTickMs: 10_000 }],
      [SETTLE_PATH]: [{ settled: false, settleInMs: 3000 }, { settled: true }],
    };
    const collect = vi.fn();
    const collectWhenQuiet = vi.fn(() => false);
    const agent = new Agent({
      post: async (p) => {
        calls.push(p);
        return answers[p]?.shift() ?? { settled: "yes" };
      },
      log: () => undefined,
      timers: t.timers,
      heap: { collect, collectAfterWork: vi.fn(() => false), collectWhenQuiet },
    });
    agent.start();
    t.fireAll();
    await settle();
    expect(calls).toEqual([TICK_PATH]);
    expect(t.pending().sort()).toEqual([10_000, 3000].sort());
    // A second tick's request replaces the first: still one settle call pending.
    await agent.ticker.tickOnce();
    expect(t.pending().filter((ms) => ms === 3000)).toHaveLength(1);
    t.fireAll();
    await settle();
    expect(calls.filter((p) => p === SETTLE_PATH)).toHaveLength(1);
    expect(collect).not.toHaveBeenCalled();
    // The work went on: the worker asks again; then it is over.
    t.fireAll();
    await settle();
    expect(calls.filter((p) => p === SETTLE_PATH)).toHaveLength(2);
    expect(collect).toHaveBeenCalledTimes(1);
    // Every tick also looks whether the agent's own work left garbage.
    expect(collectWhenQuiet).toHaveBeenCalledTimes(calls.filter((p) => p === TICK_PATH).length);
    await agent.stop();
    expect(t.pending(), "stop clears the timers").toEqual([]);
  });
});

describe("heapKeeper", () => {
  const LIMITS = { workMs: 1_000, grownBytes: 32 };
  function fakeProcess() {
    const p = { cpu: 0, at: 0, gcs: 0, trims: 0, bytes: 100, live: 100 };
    const clock = { cpuMs: () => p.cpu, nowMs: () => p.at, footprint: () => p.bytes };
    // A collection costs CPU too, and leaves what is live.
    const gc = () => {
      p.gcs++;
      p.cpu += 50;
      p.bytes = p.live;
    };
    const trim = () => void p.trims++;
    return { p, heap: heapKeeper(clock, { gc, trim }, LIMITS), clock, trim };
  }

  it("collects after a second of work at a quiet moment, and not again until the process worked another second", () => {
    const { p, heap } = fakeProcess();
    p.cpu = 999;
    expect(heap.collectAfterWork()).toBe(false);
    p.cpu = 1_000;
    expect(heap.collectAfterWork()).toBe(true);
    // The collection's own 50 ms are not work.
    p.cpu += 900;
    expect(heap.collectAfterWork()).toBe(false);
    p.cpu += 100;
    expect(heap.collectAfterWork()).toBe(true);
    heap.collect();
    expect(p.gcs).toBe(3);
    p.cpu += 999;
    expect(heap.collectAfterWork(), "any collection starts the count again").toBe(false);
  });

  it("collects after growth that cost little CPU (blocks served from disk), measured from what the last collection left", () => {
    const { p, heap } = fakeProcess();
    p.bytes = 131;
    expect(heap.collectAfterWork()).toBe(false);
    p.bytes = 132;
    expect(heap.collectAfterWork()).toBe(true);
    expect(p.bytes).toBe(100);
    // Live data grew: the mark is what the collection left, so it is not collected again and again.
    p.live = 150;
    p.bytes = 160;
    heap.collect();
    p.bytes = 180;
    expect(heap.collectAfterWork()).toBe(false);
    expect(p.gcs).toBe(2);
  });

  it("trims malloc's arenas after every collection and at every quiet moment that does not collect, never at a busy tick", () => {
    const { p, heap } = fakeProcess();
    heap.collect();
    expect([p.gcs, p.trims]).toEqual([1, 1]);
    // Native memory freed after the collection goes back at the next quiet moment, with no collection.
    expect(heap.collectAfterWork()).toBe(false);
    expect([p.gcs, p.trims]).toEqual([1, 2]);
    p.cpu += 1_000;
    expect(heap.collectAfterWork()).toBe(true);
    expect([p.gcs, p.trims]).toEqual([2, 3]);
    // A tick in the middle of work does neither.
    p.cpu += 500;
    p.at += 2_000;
    expect(heap.collectWhenQuiet()).toBe(false);
    expect([p.gcs, p.trims]).toEqual([2, 3]);
    // A quiet tick with little work since the last collection only trims.
    p.at += 10_000;
    expect(heap.collectWhenQuiet()).toBe(false);
    expect([p.gcs, p.trims]).toEqual([2, 4]);
  });

  it("at ticks, waits for a tick that finds the process quiet since the previous one", () => {
    const { p, heap } = fakeProcess();
    // A burst: 3 s of CPU in 4 s, ticks every 2 s.
    for (let i = 0; i < 2; i++) {
      p.cpu += 1_500;
      p.at += 2_000;
      expect(heap.collectWhenQuiet()).toBe(false);
    }
    // Quiet: 20 ms in 10 s.
    p.cpu += 20;
    p.at += 10_000;
    expect(heap.collectWhenQuiet()).toBe(true);
    // Idle ticks after it: the collection's own CPU does not make the next tick look busy, and nothing more is collected.
    for (let i = 0; i < 5; i++) {
      p.cpu += 20;
      p.at += 10_000;
      expect(heap.collectWhenQuiet()).toBe(false);
    }
    expect(p.gcs).toBe(1);
  });

  it("only trims where gc is not exposed", () => {
    const { p, clock, trim } = fakeProcess();
    const heap = heapKeeper(clock, { gc: undefined, trim }, LIMITS);
    p.cpu = 5_000;
    p.bytes = 1e9;
    p.at = 100_000;
    expect(heap.collectAfterWork()).toBe(false);
    expect(heap.collectWhenQuiet()).toBe(false);
    heap.collect();
    expect([p.gcs, p.trims]).toEqual([0, 3]);
  });
});
