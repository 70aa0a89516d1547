/** /api/sync/database/*: capture (agent), changes (peers pull), apply (peers push). */
import { Hono, type Context } from "hono";
import { applyRemote, readChanges, type CaptureResult } from "../../functions/db/engine.js";
import { CaptureQuerySchema, ChangeBatchSchema, ChangesQuerySchema, MAX_BATCH_BYTES, type ApplyResult, type ChangesPage } from "../../functions/wire/database.js";
import type { AppEnv } from "../app.js";
import { requireLocal, requirePeer } from "../auth.js";
import { background } from "../background.js";
import { fail } from "../errors.js";
import { services, type Services } from "../services.js";
import { knownPeers } from "../sync/known-peers.js";
import { captureAndPush, leaveToPull, notePulled, pushAll, rowsReached, servedPage } from "../sync/peers.js";
import { jsonBody, queryParams } from "../validate.js";

/** Captures the app's latest writes; their push to every peer goes on after the response. */
async function captureInBackground(c: Context<AppEnv>, s: Services, pending = false): Promise<CaptureResult> {
  const { result, push } = await captureAndPush(s, pending);
  if (push !== null) background(c, push);
  return result;
}

export function databaseRoutes(): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .post("/capture", requireLocal(), async (c) => {
      const q = queryParams(c, CaptureQuerySchema);
      return c.json(await captureInBackground(c, await services(c.env), q.pending === "1"));
    })
    .get("/changes", requirePeer(), async (c) => {
      const s = await services(c.env);
      const q = queryParams(c, ChangesQuerySchema);
      let pushed = 0;
      if (q.for !== undefined) {
        await notePulled(s, q.for, q.applied ?? 0, "rows");
        pushed = await rowsReached(s, q.for);
      }
      // Serve rows with the app's latest writes stamped, not values newer than their clocks.
      await captureInBackground(c, s);
      // A pull is anti-entropy: it trusts what the reader itself sent and what we delivered to it, not delivery hints.
      const page = await readChanges(s.appDb, s.engine, q.since, q.limit, q.for === undefined ? null : { site: q.for, hints: false, pushed });
      if (q.for !== undefined) servedPage(q.for, "rows", page.more);
      const body: ChangesPage = { site: s.siteId, ...page };
      return c.json(body);
    })
    .post("/apply", requirePeer(), async (c) => {
      const s = await services(c.env);
      const batch = await jsonBody(c, ChangeBatchSchema, MAX_BATCH_BYTES);
      if (batch.from === s.siteId) fail(400, "self", "this batch comes from this very site", "a peer URL points back at this site; remove it");
      if (leaveToPull(batch.from, "rows")) return c.json({ applied: 0, unchanged: 0, parked: 0, deferred: true } satisfies ApplyResult);
      const result = await applyRemote(s.appDb, s.engine, { from: batch.from, also: batch.also }, batch.changes);
      // Forward what changed here, so A ↔ B ↔ C converges when A and C are not peers; not when
      // the sender delivers it to all our peers too (in a full mesh of 10, a change would
      // otherwise cost 72 more push rounds that find nothing to send).
      const covered = new Set([batch.from, ...(batch.also ?? [])]);
      const elsewhere = (await knownPeers(s)).some((p) => p.site === null || !covered.has(p.site));
      if (result.captured || result.unheld || ((result.applied || result.parked) && elsewhere)) background(c, pushAll(s, ["rows"]));
      return c.json({ applied: result.applied, unchanged: result.unchanged, parked: result.parked });
    });
}
