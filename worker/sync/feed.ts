/**
 * One replication loop for every kind of versioned entry (database rows, file versions): push
 * our entries after the peer's push checkpoint, pull the peer's after our pull checkpoint. Both
 * checkpoints live on the peer's row (CouchDB-style), so a peer that was away resumes where it
 * stopped instead of rescanning; every delivery is idempotent, so a lost acknowledgement costs
 * only a duplicate. A kind supplies how to read, send, fetch and apply its entries.
 */
import { eq, sql } from "drizzle-orm";
import type { Services } from "../services.js";
import { peers } from "../state/schema.js";

type Peer = typeof peers.$inferSelect;

export interface FeedPage<T> {
  site: string;
  items: T[];
  /** Sequence of the last entry in this page (the next `since`). */
  last: number;
  /** The sender's newest sequence. */
  head: number;
  more: boolean;
}

export interface Feed<T> {
  /** The peer columns holding this feed's checkpoints. */
  checkpoints: { pushed: "pushedSeq" | "filesPushedSeq"; pulled: "pulledSeq" | "filesPulledSeq"; remote: "remoteSeq" | "filesRemoteSeq" };
  /** Our entries after `since`, in sequence order, for the peer (which may need fewer than all). */
  read(s: Services, peer: Peer, since: number, limit: number): Promise<{ items: T[]; last: number; more: boolean }>;
  /** Delivers entries to the peer (its apply endpoint); throws when the peer refuses. */
  send(s: Services, peer: Peer, items: T[]): Promise<void>;
  /** The peer's entries after `since`. */
  fetch(s: Services, peer: Peer, since: number, limit: number): Promise<FeedPage<T>>;
  /** Merges entries received from site `from`; returns how many changed something here. */
  apply(s: Services, from: string, items: T[]): Promise<number>;
  page: number;
}

/** Pages per push or pull call; the next tick goes on from the checkpoint. */
const MAX_PAGES = 200;
const TIMEOUT_MS = 10_000;

/** A JSON call to a peer, bounded by a timeout; non-2xx becomes an error with the peer's reason. */
export async function call(url: string, init: RequestInit = {}): Promise<unknown> {
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

export function postJson(body: unknown): RequestInit {
  return { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}

/**
 * Starts the next page's read while the current page is handled, so the two sides work at the
 * same time (the reader reads while the writer writes). A read that nobody collects (the
 * handler failed) must not surface as an unhandled rejection.
 */
function ahead<P>(read: () => Promise<P>): Promise<P> {
  const p = read();
  p.catch(() => undefined);
  return p;
}

/** Sends our entries after the peer's push checkpoint. Returns how many were sent. */
export async function pushFeed<T>(s: Services, peer: Peer, feed: Feed<T>): Promise<number> {
  const col = peers[feed.checkpoints.pushed];
  let since = peer[feed.checkpoints.pushed];
  let sent = 0;
  let next = ahead(() => feed.read(s, peer, since, feed.page));
  for (let page = 0; page < MAX_PAGES; page++) {
    const batch = await next;
    if (batch.last <= since) break;
    const more = batch.more && page + 1 < MAX_PAGES;
    if (more) next = ahead(() => feed.read(s, peer, batch.last, feed.page));
    // A page can be empty and still move the checkpoint: the peer already holds all of it.
    if (batch.items.length) await feed.send(s, peer, batch.items);
    since = batch.last;
    sent += batch.items.length;
    await s.db.update(peers).set({ [feed.checkpoints.pushed]: sql`max(${col}, ${since})` }).where(eq(peers.id, peer.id));
    if (!more) break;
  }
  return sent;
}

/** Fetches the peer's entries after our pull checkpoint and applies them. Returns how many changed something. */
export async function pullFeed<T>(s: Services, peer: Peer, feed: Feed<T>): Promise<number> {
  const col = peers[feed.checkpoints.pulled];
  let since = peer[feed.checkpoints.pulled];
  let applied = 0;
  let next = ahead(() => feed.fetch(s, peer, since, feed.page));
  for (let page = 0; page < MAX_PAGES; page++) {
    const body = await next;
    if (body.site === s.siteId) throw new Error("this peer URL points back at this site itself");
    const more = body.more && page + 1 < MAX_PAGES;
    if (more) next = ahead(() => feed.fetch(s, peer, body.last, feed.page));
    if (body.items.length) applied += await feed.apply(s, body.site, body.items);
    since = body.last;
    await s.db
      .update(peers)
      .set({ [feed.checkpoints.pulled]: sql`max(${col}, ${since})`, [feed.checkpoints.remote]: body.head, remoteSite: body.site })
      .where(eq(peers.id, peer.id));
    if (!more) break;
  }
  return applied;
}
