/**
 * POST /api/sync/tick: the agent is the site's clock (workers have no sub-second timers). Each
 * tick captures local writes, then pushes to and pulls from every peer that is not in step with
 * us: anti-entropy that heals whatever a lost push missed, and the health check that marks peers
 * online or offline. A peer that keeps failing is tried less and less often (retryAfterMs).
 */
import { Hono } from "hono";
import { captureLocal } from "../../functions/db/engine.js";
import type { AppEnv } from "../app.js";
import { requireLocal } from "../auth.js";
import { settle } from "../memory.js";
import { services } from "../services.js";
import { nextTickMs } from "../sync/cadence.js";
import { readMeta } from "../files/store.js";
import { listPeers, roundDueInMs, tickPeer } from "../sync/peers.js";

export function tickRoutes(): Hono<AppEnv> {
  return new Hono<AppEnv>().post("/tick", requireLocal(), async (c) => {
    const s = await services(c.env);
    const [captured, files] = await Promise.all([captureLocal(s.appDb, s.engine), readMeta(s.state)]);
    const peers = await listPeers(s);
    const ours = { rows: captured.seq, files: files.seq };
    const now = Date.now();
    const due = peers.filter((p) => roundDueInMs(p, peers.length, now) === 0);
    const results = await Promise.all(due.map(async (p) => ({ id: p.id, ...(await tickPeer(s, p, ours, peers.length)) })));
    // Pushes are instant, so anti-entropy can slow down while all is quiet; that keeps an idle
    // site near zero CPU (B7), and a peer that is away is tried less and less often.
    const moved = captured.captured > 0 || results.some((r) => r.sent > 0 || r.applied > 0 || r.files.sent > 0 || r.files.applied > 0);
    // Each round moved its peer's failure count (to 0, or up by one): no second read of the list.
    const after = Date.now();
    const retries = peers
      .map((p) => {
        const r = results.find((x) => x.id === p.id);
        return r === undefined ? p : { ...p, failures: r.failed ? p.failures + 1 : 0 };
      })
      .filter((p) => p.failures > 0)
      .map((p) => roundDueInMs(p, peers.length, after));
    return c.json({ captured: captured.captured, seq: captured.seq, peers: results, nextTickMs: nextTickMs(peers.length, moved, retries), ...settle(moved) });
  });
}
