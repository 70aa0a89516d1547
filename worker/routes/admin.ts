/** /api/admin/*: the CLI's (and later the admin pages') view and control of this site. */
import { Hono } from "hono";
import { eq, sql } from "drizzle-orm";
import { readClock } from "../../functions/db/engine.js";
import { toHex } from "../../functions/util/hex.js";
import { AddPeerSchema, PasswordSchema, PeerAddressesSchema, type PeerView } from "../../functions/wire/admin.js";
import type { AppEnv } from "../app.js";
import { requireLocal } from "../auth.js";
import { fail } from "../errors.js";
import { services, type Services } from "../services.js";
import { peers, settings } from "../state/schema.js";
import { onlineWindowMs } from "../sync/cadence.js";
import { logEvent } from "../sync/events.js";
import { listPeers, syncPeer, type Peer } from "../sync/peers.js";
import { background } from "../background.js";
import { hashPassword } from "../password.js";
import { jsonBody } from "../validate.js";
import { parkedCount } from "../sync/parked.js";
import { counts } from "../files/store.js";

export function peerViews(all: Peer[], now: number): PeerView[] {
  return all.map((p) => peerView(p, now, all.length));
}

function peerView(p: Peer, now: number, peerCount: number): PeerView {
  return {
    id: p.id,
    url: p.url,
    name: p.name,
    site: p.remoteSite,
    online: p.failures === 0 && p.lastSeenAt !== null && now - p.lastSeenAt < onlineWindowMs(peerCount),
    lastSeenAt: p.lastSeenAt,
    lastSyncAt: p.lastSyncAt,
    lastError: p.lastError,
    pending: Math.max(0, p.remoteSeq - p.pulledSeq),
  };
}

export async function siteStatus(s: Services) {
  const now = Date.now();
  const clock = await readClock(s.appDb, s.engine);
  return {
    site: s.siteId,
    name: s.config.SITE_NAME,
    version: s.config.SCOUTSYNC_VERSION,
    port: s.config.SITE_PORT ?? null,
    dbPort: s.config.DB_PORT ?? null,
    uptime: Math.round((now - s.startedAt) / 1000),
    hlc: clock.hlc,
    seq: clock.seq,
    parked: await parkedCount(s),
    files: await counts(s.state),
    peers: peerViews(await listPeers(s), now),
  };
}

const MAX_ADMIN_BODY = 64 * 1024;

export function adminRoutes(): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .use(requireLocal())
    .get("/status", async (c) => c.json(await siteStatus(await services(c.env))))
    .get("/peers", async (c) => {
      const s = await services(c.env);
      const now = Date.now();
      return c.json({ peers: peerViews(await listPeers(s), now) });
    })
    .post("/peers", async (c) => {
      const s = await services(c.env);
      const body = await jsonBody(c, AddPeerSchema, MAX_ADMIN_BODY);
      const existing = await s.db.select().from(peers).where(eq(peers.url, body.url)).get();
      if (existing) fail(409, "exists", `${body.url} is already a peer (id ${existing.id})`);
      const id = toHex(crypto.getRandomValues(new Uint8Array(4)));
      await s.db.insert(peers).values({ id, url: body.url, name: body.name ?? null, addedAt: Date.now() });
      await logEvent(s, "info", "peer", `added peer ${body.name ?? body.url} (${body.url})`);
      const row = (await s.db.select().from(peers).where(eq(peers.id, id)).get())!;
      // A new peer starts syncing now (initial sync), not at the next tick.
      background(c, syncPeer(s, row, { push: true, pull: true }));
      return c.json({ peer: peerView(row, Date.now(), (await listPeers(s)).length) }, 201);
    })
    .delete("/peers/:id", async (c) => {
      const s = await services(c.env);
      const id = c.req.param("id");
      const row = await s.db.select().from(peers).where(eq(peers.id, id)).get();
      if (!row) fail(404, "no_such_peer", `no peer with id ${JSON.stringify(id)}`, "see `scoutsync peer list`");
      await s.db.delete(peers).where(eq(peers.id, id));
      await logEvent(s, "info", "peer", `removed peer ${row.name ?? row.url}`);
      return c.json({ removed: id });
    })
    .put("/peers/addresses", async (c) => {
      const s = await services(c.env);
      const body = await jsonBody(c, PeerAddressesSchema, MAX_ADMIN_BODY);
      for (const [id, addresses] of Object.entries(body.addresses)) {
        await s.db.update(peers).set({ addresses: JSON.stringify(addresses) }).where(eq(peers.id, id));
      }
      return c.json({ updated: Object.keys(body.addresses).length });
    })
    .post("/password", async (c) => {
      const s = await services(c.env);
      const body = await jsonBody(c, PasswordSchema, MAX_ADMIN_BODY);
      const value = await hashPassword(body.password);
      await s.db
        .insert(settings)
        .values({ key: "admin_password", value })
        .onConflictDoUpdate({ target: settings.key, set: { value: sql`excluded.value` } });
      await logEvent(s, "info", "admin", "superadmin password set");
      return c.json({ ok: true });
    });
}
