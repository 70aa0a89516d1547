/**
 * Per-isolate services: the libSQL clients, drizzle over the state database, this site's id.
 * Built on first use and reused while the bindings stay the same; nothing here is state that
 * must survive between requests (that lives in the databases).
 */
import { createClient, type Client } from "@libsql/client/web";
import { drizzle } from "drizzle-orm/libsql/web";
import type { LibSQLDatabase } from "drizzle-orm/libsql";
import { eq } from "drizzle-orm";
import type { SqlDb } from "../functions/db/port.js";
import type { EngineContext } from "../functions/db/engine.js";
import { toHex } from "../functions/util/hex.js";
import { parseEnv, type Config } from "./env.js";
import { settledWithin } from "./shared.js";
import { clientDb } from "./sync/sql-port.js";
import { convertFileHashes } from "./state/file-hashes.js";
import { migrate } from "./state/migrate.js";
import * as schema from "./state/schema.js";

export interface Services {
  config: Config;
  app: Client;
  state: Client;
  db: LibSQLDatabase<typeof schema>;
  siteId: string;
  startedAt: number;
  /** The app's database as the sync engine sees it. */
  appDb: SqlDb;
  engine: EngineContext;
}

interface Entry {
  env: unknown;
  key: string;
  services: Promise<Services>;
  /** Set once built: later requests take it as a value, not by waiting on another request's promise. */
  ready?: Services;
}

let cached: Entry | null = null;

/** How long a request waits for services another request is building before building its own. */
const BUILD_WAIT_MS = 15_000;

export async function services(env: unknown, now: () => number = Date.now): Promise<Services> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const { entry, mine } = entryFor(env, now);
    if (entry.ready) return entry.ready;
    if (mine || (await settledWithin(entry.services, BUILD_WAIT_MS))) return entry.services;
    // The request that started the build is gone (worker/shared.ts): this one builds anew.
    if (cached === entry) cached = null;
  }
  throw new Error(`the site's databases did not answer within ${(2 * BUILD_WAIT_MS) / 1000} s while starting`);
}

function entryFor(env: unknown, now: () => number): { entry: Entry; mine: boolean } {
  // The runtime hands every request the same bindings object: parse it once, not per call.
  if (cached !== null && cached.env === env) return { entry: cached, mine: false };
  const config = parseEnv(env);
  const key = JSON.stringify(config);
  if (cached !== null && cached.key === key) {
    cached.env = env;
    return { entry: cached, mine: false };
  }
  const entry: Entry = { env, key, services: build(config, now()) };
  entry.services.then(
    (s) => {
      entry.ready = s;
    },
    // A failed start (database not up yet) must not be cached: the next request tries again.
    () => {
      if (cached === entry) cached = null;
    },
  );
  cached = entry;
  return { entry, mine: true };
}

/**
 * The client queues calls beyond its concurrency limit (20 by default, and 0 means the default)
 * in one queue for the whole isolate: a queued call then runs in the I/O context of whichever
 * request freed a slot, and dies with it (worker/shared.ts). Slots leaked that way until every
 * state-database call of the site hung (a bulk sync of 10,000 files). No queue: each call runs
 * in its own request; the database server bounds what it serves at once.
 */
const NO_QUEUE = Number.MAX_SAFE_INTEGER;

async function build(config: Config, startedAt: number): Promise<Services> {
  const authToken = config.LIBSQL_AUTH_TOKEN;
  // App rows may hold 64-bit integers; scoutsync's own tables never do, and drizzle wants numbers.
  const app = createClient({ url: config.LIBSQL_URL, authToken, intMode: "bigint", concurrency: NO_QUEUE });
  const state = createClient({ url: config.LIBSQL_STATE_URL ?? config.LIBSQL_URL, authToken, intMode: "number", concurrency: NO_QUEUE });
  await migrate(state);
  await convertFileHashes(state);
  const db = drizzle(state, { schema });
  const siteId = await ensureSiteId(db, startedAt);
  return { config, app, state, db, siteId, startedAt: config.SITE_STARTED_AT ?? startedAt, appDb: clientDb(app), engine: { site: siteId, now: () => Date.now(), cache: {} } };
}

async function ensureSiteId(db: LibSQLDatabase<typeof schema>, now: number): Promise<string> {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  const fresh = toHex(bytes);
  await db.insert(schema.site).values({ key: "self", siteId: fresh, createdAt: now }).onConflictDoNothing();
  const row = await db.select().from(schema.site).where(eq(schema.site.key, "self")).get();
  if (!row) throw new Error("site identity missing after insert");
  return row.siteId;
}
