/**
 * POST /api/sync/tick: the agent is the site's clock (workers have no sub-second timers). Each
 * tick captures local writes, then pushes to and pulls from every peer that is not in step with
 * us: anti-entropy that heals whatever a lost push missed, and the health check that marks peers
 * online or offline.
 */
import { Hono } from "hono";
import { captureLocal } from "../../functions/db/engine.js";
import type { AppEnv } from "../app.js";
import { requireLocal } from "../auth.js";
import { services } from "../services.js";
import { BUSY_TICK_MS, idleTickMs } from "../sync/cadence.js";
import { readMeta } from "../files/store.js";
import { listPeers, tickPeer } from "../sync/peers.js";

export function tickRoutes(): Hono<AppEnv> {
  return new Hono<AppEnv>().post("/tick", requireLocal(), async (c) => {
    const s = await services(c.env);
    const [captured, files] = await Promise.all([captureLocal(s.appDb, s.engine), readMeta(s.state)]);
    const peers = await listPeers(s);
    const ours = { rows: captured.seq, files: files.seq };
    const results = await Promise.all(peers.map(async (p) => ({ id: p.id, ...(await tickPeer(s, p, ours)) })));
    // Pushes are instant, so anti-entropy can slow down while all is quiet and every peer
    // answers; that keeps an idle site near zero CPU (B7).
    const quiet = captured.captured === 0 && results.every((r) => r.sent === 0 && r.applied === 0 && r.files.sent === 0 && r.files.applied === 0) && (await listPeers(s)).every((p) => p.failures === 0);
    return c.json({ captured: captured.captured, seq: captured.seq, peers: results, nextTickMs: quiet ? idleTickMs(peers.length) : BUSY_TICK_MS });
  });
}
