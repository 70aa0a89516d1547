/**
 * POST /api/admin/selftest: checks, from inside the worker, that its libSQL connection behaves
 * as scoutsync needs (parameters, value types, batches that roll back, interactive
 * transactions). On a laptop this exercises the agent's embedded server; against Turso or sqld
 * it tells whether the URL and token work. Uses a scratch table in the app database (the
 * connection that matters most; `_scoutsync_` tables are never synced).
 */
import { Hono } from "hono";
import type { Client } from "@libsql/client/web";
import type { AppEnv } from "../app.js";
import { requireLocal } from "../auth.js";
import { services } from "../services.js";

type Check = { name: string; ok: boolean; detail?: string };

const TABLE = "_scoutsync_selftest";

async function checks(db: Client): Promise<Check[]> {
  const out: Check[] = [];
  const run = async (name: string, fn: () => Promise<string | undefined>): Promise<void> => {
    try {
      const detail = await fn();
      out.push(detail === undefined ? { name, ok: true } : { name, ok: false, detail });
    } catch (err) {
      out.push({ name, ok: false, detail: err instanceof Error ? err.message : String(err) });
    }
  };
  await db.execute(`DROP TABLE IF EXISTS ${TABLE}`);
  await db.execute(`CREATE TABLE ${TABLE} (id INTEGER PRIMARY KEY, i INTEGER, f REAL, t TEXT, b BLOB)`);
  try {
    await run("positional and named parameters", async () => {
      await db.execute({ sql: `INSERT INTO ${TABLE} (id, i, t) VALUES (?, ?, ?)`, args: [1, 2n, "one"] });
      const r = await db.execute({ sql: `SELECT t FROM ${TABLE} WHERE id = :id`, args: { id: 1 } });
      return r.rows[0]?.[0] === "one" ? undefined : `read back ${JSON.stringify(r.rows[0]?.[0])}`;
    });
    await run("64-bit integers, reals, unicode text, blobs", async () => {
      const big = 9007199254740993n;
      const blob = new Uint8Array(256 * 1024).map((_, k) => k % 251);
      await db.execute({ sql: `INSERT INTO ${TABLE} (id, i, f, t, b) VALUES (2, ?, ?, ?, ?)`, args: [big, 2.0, "ünï ✓", blob] });
      const r = await db.execute(`SELECT i, f, typeof(f), t, b FROM ${TABLE} WHERE id = 2`);
      const row = r.rows[0];
      if (!row) return "row not found";
      const [i, f, ft, t, b] = [row[0], row[1], row[2], row[3], row[4]];
      const bytes = b instanceof ArrayBuffer ? new Uint8Array(b) : null;
      if (i !== big) return `integer came back as ${String(i)}`;
      if (f !== 2 || ft !== "real") return `real came back as ${String(f)} (${String(ft)})`;
      if (t !== "ünï ✓") return `text came back as ${String(t)}`;
      if (!bytes || bytes.length !== blob.length || bytes.some((x, k) => x !== blob[k])) return "blob differs";
      return undefined;
    });
    await run("a batch that fails rolls back entirely", async () => {
      const failed = await db.batch([`INSERT INTO ${TABLE} (id) VALUES (10)`, `INSERT INTO ${TABLE} (id) VALUES (1)`], "write").then(
        () => false,
        () => true,
      );
      const r = await db.execute(`SELECT count(*) FROM ${TABLE} WHERE id = 10`);
      return failed && r.rows[0]?.[0] === 0n ? undefined : "the batch did not roll back";
    });
    await run("interactive transactions commit and roll back", async () => {
      const tx = await db.transaction("write");
      await tx.execute(`INSERT INTO ${TABLE} (id) VALUES (20)`);
      await tx.rollback();
      const tx2 = await db.transaction("write");
      await tx2.execute(`INSERT INTO ${TABLE} (id) VALUES (21)`);
      await tx2.commit();
      const r = await db.execute(`SELECT group_concat(id) FROM ${TABLE} WHERE id >= 20`);
      return r.rows[0]?.[0] === "21" ? undefined : `found ${String(r.rows[0]?.[0])}`;
    });
    // The engine's capture check names the app's tables and may meet one the app just dropped:
    // it goes on in the same transaction without it (functions/db/schema.ts ensureCapture).
    await run("a failed statement in a transaction's batch leaves the transaction usable", async () => {
      const tx = await db.transaction("write");
      try {
        const failed = await tx.batch([`INSERT INTO ${TABLE} (id) VALUES (30)`, `SELECT * FROM ${TABLE}_missing`]).then(
          () => false,
          () => true,
        );
        await tx.batch([`INSERT INTO ${TABLE} (id) VALUES (31)`]);
        await tx.commit();
        const r = await db.execute(`SELECT group_concat(id) FROM ${TABLE} WHERE id >= 30`);
        return failed && r.rows[0]?.[0] === "30,31" ? undefined : `failed: ${String(failed)}, found ${String(r.rows[0]?.[0])}`;
      } finally {
        tx.close();
      }
    });
    await run("SQL errors come back as errors with a code", async () => {
      const err = await db.execute("SELEKT 1").then(
        () => null,
        (e: unknown) => e as { code?: string },
      );
      return err && typeof err.code === "string" ? undefined : "no error code";
    });
  } finally {
    await db.execute(`DROP TABLE IF EXISTS ${TABLE}`);
  }
  return out;
}

export function selftestRoutes(): Hono<AppEnv> {
  return new Hono<AppEnv>().post("/selftest", requireLocal(), async (c) => {
    const s = await services(c.env);
    const results = await checks(s.app);
    return c.json({ ok: results.every((r) => r.ok), checks: results }, results.every((r) => r.ok) ? 200 : 500);
  });
}
