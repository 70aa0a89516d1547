/**
 * POST /api/sync/tick: the agent is the site's clock (workers have no sub-second timers). Each
 * tick captures local writes, then pushes to and pulls from every peer: anti-entropy that heals
 * whatever a lost push missed, and the health check that marks peers online or offline.
 */
import { Hono } from "hono";
import { captureLocal } from "../../functions/db/engine.js";
import type { AppEnv } from "../app.js";
import { requireLocal } from "../auth.js";
import { services } from "../services.js";
import { listPeers, syncPeer } from "../sync/peers.js";

export function tickRoutes(): Hono<AppEnv> {
  return new Hono<AppEnv>().post("/tick", requireLocal(), async (c) => {
    const s = await services(c.env);
    const captured = await captureLocal(s.appDb, s.engine);
    const peers = await listPeers(s);
    const results = await Promise.all(peers.map(async (p) => ({ id: p.id, ...(await syncPeer(s, p, { push: true, pull: true })) })));
    return c.json({ captured: captured.captured, seq: captured.seq, peers: results });
  });
}
