/**
 * Replication with peers: push our changes the moment we have them, pull theirs as
 * anti-entropy. Both directions keep a checkpoint per peer (CouchDB-style), so a peer that was
 * away resumes where it stopped instead of rescanning, and since every delivery is idempotent,
 * a lost acknowledgement only costs a duplicate.
 */
import { eq, sql } from "drizzle-orm";
import { applyRemote, readChanges } from "../../functions/db/engine.js";
import { ApplyResultSchema, ChangesPageSchema, type ChangeBatch } from "../../functions/wire/database.js";
import type { Services } from "../services.js";
import { peers } from "../state/schema.js";
import { logEvent } from "./events.js";

export type Peer = typeof peers.$inferSelect;

const PAGE = 1000;
/** Pages per push or pull call; the next tick goes on from the checkpoint. */
const MAX_PAGES = 200;
const TIMEOUT_MS = 10_000;

export async function listPeers(s: Services): Promise<Peer[]> {
  return s.db.select().from(peers).all();
}

async function call(url: string, init: RequestInit = {}): Promise<unknown> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  const text = await res.text();
  if (!res.ok) {
    let reason = text.slice(0, 200);
    try {
      reason = (JSON.parse(text) as { error?: string }).error ?? reason;
    } catch {
      // not JSON: keep the text
    }
    throw new Error(`${init.method ?? "GET"} ${new URL(url).pathname}: HTTP ${res.status}: ${reason}`);
  }
  return JSON.parse(text) as unknown;
}

/** Sends our changes after the peer's push checkpoint. Returns how many rows were sent. */
export async function pushTo(s: Services, peer: Peer): Promise<number> {
  let since = peer.pushedSeq;
  let sent = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const batch = await readChanges(s.appDb, s.engine, since, PAGE);
    if (batch.changes.length === 0) break;
    const body: ChangeBatch = { from: s.siteId, changes: batch.changes };
    ApplyResultSchema.parse(await call(`${peer.url}/api/sync/database/apply`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }));
    since = batch.last;
    sent += batch.changes.length;
    await s.db.update(peers).set({ pushedSeq: sql`max(${peers.pushedSeq}, ${since})` }).where(eq(peers.id, peer.id));
    if (!batch.more) break;
  }
  return sent;
}

/** Fetches the peer's changes after our pull checkpoint and applies them. Returns rows applied. */
export async function pullFrom(s: Services, peer: Peer): Promise<number> {
  let since = peer.pulledSeq;
  let applied = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const body = ChangesPageSchema.parse(await call(`${peer.url}/api/sync/database/changes?since=${since}&limit=${PAGE}`));
    if (body.site === s.siteId) throw new Error("this peer URL points back at this site itself");
    if (body.changes.length) applied += (await applyRemote(s.appDb, s.engine, body.changes)).applied;
    since = body.last;
    await s.db
      .update(peers)
      .set({ pulledSeq: sql`max(${peers.pulledSeq}, ${since})`, remoteSeq: body.head, remoteSite: body.site })
      .where(eq(peers.id, peer.id));
    if (!body.more) break;
  }
  return applied;
}

export async function markPeer(s: Services, peer: Peer, error: unknown): Promise<void> {
  const now = Date.now();
  if (error === null) {
    await s.db.update(peers).set({ lastSeenAt: now, lastSyncAt: now, lastError: null, failures: 0 }).where(eq(peers.id, peer.id));
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  await s.db.update(peers).set({ lastError: message, failures: sql`${peers.failures} + 1` }).where(eq(peers.id, peer.id));
  // Log the first failure of a run and every tenth after it, not every tick.
  if (peer.failures % 10 === 0) await logEvent(s, "warn", "peer", `${peer.name ?? peer.url}: ${message}`);
}

/** One round with one peer: push, then pull. */
export async function syncPeer(s: Services, peer: Peer, direction: { push: boolean; pull: boolean }): Promise<{ sent: number; applied: number }> {
  try {
    const sent = direction.push ? await pushTo(s, peer) : 0;
    const applied = direction.pull ? await pullFrom(s, peer) : 0;
    await markPeer(s, peer, null);
    return { sent, applied };
  } catch (err) {
    await markPeer(s, peer, err);
    return { sent: 0, applied: 0 };
  }
}

/**
 * Pushes to every peer now. Pushes to one peer never overlap inside an isolate: a request that
 * arrives while one runs asks for one more round instead (checkpoints make a round cheap).
 */
const pushing = new Map<string, { again: boolean }>();
export async function pushAll(s: Services): Promise<void> {
  const all = await listPeers(s);
  await Promise.all(
    all.map(async (p) => {
      const running = pushing.get(p.id);
      if (running) {
        running.again = true;
        return;
      }
      const state = { again: true };
      pushing.set(p.id, state);
      try {
        for (let round = 0; state.again && round < 20; round++) {
          state.again = false;
          const fresh = (await s.db.select().from(peers).where(eq(peers.id, p.id)).get()) ?? p;
          await syncPeer(s, fresh, { push: true, pull: false });
        }
      } finally {
        pushing.delete(p.id);
      }
    }),
  );
}
