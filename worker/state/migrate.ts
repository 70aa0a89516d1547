/**
 * Applies the embedded drizzle-kit migrations, keeping drizzle's own bookkeeping table so that
 * `drizzle-kit` tooling sees the same history. Runs at the first request of each isolate.
 */
import type { Client } from "@libsql/client/web";
import { migrations } from "./migrations.gen.js";

const TABLE = "__drizzle_migrations";

export async function migrate(client: Client): Promise<number> {
  await client.execute(`CREATE TABLE IF NOT EXISTS ${TABLE} (id INTEGER PRIMARY KEY, hash TEXT NOT NULL, created_at NUMERIC)`);
  const last = await client.execute(`SELECT created_at FROM ${TABLE} ORDER BY created_at DESC LIMIT 1`);
  const lastMillis = last.rows.length ? Number(last.rows[0]![0]) : -1;
  const pending = migrations.filter((m) => m.folderMillis > lastMillis);
  if (pending.length === 0) return 0;
  await client.batch(
    pending.flatMap((m) => [
      ...m.sql,
      { sql: `INSERT INTO ${TABLE} (hash, created_at) VALUES (?, ?)`, args: [m.hash, m.folderMillis] },
    ]),
    "write",
  );
  return pending.length;
}
