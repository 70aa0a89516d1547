/**
 * One replication loop for every kind of versioned entry (database rows, file versions): push
 * our entries after the peer's push checkpoint, pull the peer's after our pull checkpoint. Both
 * checkpoints live on the peer's row (CouchDB-style), so a peer that was away resumes where it
 * stopped instead of rescanning; every delivery is idempotent, so a lost acknowledgement costs
 * only a duplicate. A kind supplies how to read, send, fetch and apply its entries.
 */
import { eq, sql } from "drizzle-orm";
import type { Services } from "../services.js";
import { settledWithin } from "../shared.js";
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
  /**
   * Delivers entries to the peer (its apply endpoint); throws when the peer refuses. False when
   * the peer deferred them: it is pulling from us right now and will fetch them itself.
   */
  send(s: Services, peer: Peer, items: T[]): Promise<boolean>;
  /** The peer's entries after `since`; `applied` is how far we have applied them (the peer's pushes to us may skip that). */
  fetch(s: Services, peer: Peer, since: number, limit: number, applied: number): Promise<FeedPage<T>>;
  /** Merges entries received from site `from`; returns how many changed something here. */
  apply(s: Services, from: string, items: T[]): Promise<number>;
  page: number;
  /** How long a flight may go without a page before another caller takes over (FLIGHT_STALL_MS; tests shorten it). */
  stallMs?: number;
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

/**
 * A flight's first pages are smaller, doubling up to the feed's page: the receiver applies the
 * first one while the sender reads the next, larger one. A first page of 10,000 changes kept a
 * site back from a break waiting ~0.5 s before it could start (B8).
 */
const FIRST_PAGE = 1_000;

export function pageLimit(feedPage: number, page: number): number {
  return Math.min(feedPage, FIRST_PAGE * 2 ** Math.min(page, 20));
}

/** Rounds one flight may run for callers that asked while it was running. */
const MAX_ROUNDS = 20;

/**
 * A flight that has not finished a page for this long is taken for gone: its request's context
 * ended and the runtime dropped it (worker/shared.ts). Every step of a page is bounded well
 * below this (peer calls by TIMEOUT_MS, the database server's busy wait by 10 s).
 */
const FLIGHT_STALL_MS = 30_000;
/** Waits of that length a caller spends on a flight that still makes progress before running its own. */
const MAX_STALL_WAITS = 10;

/**
 * One flight per peer, feed and direction at a time (inside an isolate). A caller that finds
 * one running asks it for one more round and waits for that: its "sync now" is honoured when
 * it returns, and the same pages are never fetched, sent or applied twice at once (the tick, the
 * push after a capture and a new peer's first sync all ask for the same thing).
 */
interface Flight {
  /** The peer checkpoint column this flight moves (it names the feed and the direction). */
  checkpoint: string;
  again: boolean;
  /** For a pull that got a page with more behind it and is fetching the rest: the site it pulls from. */
  streamingFrom: string | null;
  /** When the flight last started or finished a page (Date.now()). */
  beat: number;
  done: Promise<number>;
}

const flights = new Map<string, Flight>();

async function single(peerId: string, checkpoint: string, round: (flight: Flight, first: boolean) => Promise<number>, stallMs: number): Promise<number> {
  const key = `${peerId} ${checkpoint}`;
  const running = flights.get(key);
  if (running) {
    running.again = true;
    for (let wait = 0; wait < MAX_STALL_WAITS; wait++) {
      if (await settledWithin(running.done, stallMs)) return running.done.then(() => 0);
      if (Date.now() - running.beat >= stallMs) break;
    }
    // Gone, or slower than any page should be: this caller flies instead (deliveries are idempotent).
    if (flights.get(key) === running) flights.delete(key);
  }
  const state: Flight = { checkpoint, again: true, streamingFrom: null, beat: Date.now(), done: Promise.resolve(0) };
  state.done = (async () => {
    let total = 0;
    try {
      for (let r = 0; state.again && r < MAX_ROUNDS; r++) {
        state.again = false;
        total += await round(state, r === 0);
      }
      return total;
    } finally {
      if (flights.get(key) === state) flights.delete(key);
    }
  })();
  flights.set(key, state);
  return state.done;
}

/**
 * Whether entries the peer pushes to us can wait for our pull from it: a pull that is streaming
 * pages fetches them anyway (applying both would do the work twice), and is asked for one more
 * round so that nothing pushed meanwhile waits for the next tick. A pull still waiting for its
 * first page (the peer may be unreachable from here) defers nothing.
 */
export function pullTakesOver(site: string, feed: Feed<unknown>): boolean {
  let taken = false;
  for (const flight of flights.values()) {
    if (flight.checkpoint !== feed.checkpoints.pulled || flight.streamingFrom !== site) continue;
    flight.again = true;
    taken = true;
  }
  return taken;
}

/**
 * Sites that are streaming a pull from us (a page with more behind it, served within
 * SERVING_GAP_MS), per feed. While one is, our own pull from it only walks back over the rows
 * it is receiving from us (all skipped) and takes its database from the apply it is busy with
 * (B8: ten such pulls during one catch-up). Its own new entries still reach us by its pushes.
 */
const serving = new Map<string, number>();
const SERVING_GAP_MS = 5_000;

/** Records a page served to `site`: `more` means it will be back for the rest. */
export function noteServed(site: string, feed: Feed<unknown>, more: boolean): void {
  const key = `${site} ${feed.checkpoints.pulled}`;
  if (more) serving.set(key, Date.now());
  else serving.delete(key);
}

function streamingFromUs(site: string | null, feed: Feed<unknown>): boolean {
  const at = site === null ? undefined : serving.get(`${site} ${feed.checkpoints.pulled}`);
  return at !== undefined && Date.now() - at < SERVING_GAP_MS;
}

/** The peer's row as stored now (checkpoints move under a flight: the peer's pulls advance our push checkpoint). */
async function currentPeer(s: Services, id: string): Promise<Peer | undefined> {
  return s.db.select().from(peers).where(eq(peers.id, id)).get();
}

/** Sends our entries after the peer's push checkpoint. Returns how many were sent. */
export function pushFeed<T>(s: Services, peer: Peer, feed: Feed<T>): Promise<number> {
  return single(peer.id, feed.checkpoints.pushed, async (flight, first) => {
    const col = peers[feed.checkpoints.pushed];
    // The caller's row is fresh for the first round; later rounds follow the checkpoints moved since.
    const p = first ? peer : await currentPeer(s, peer.id);
    if (!p) return 0;
    let since = p[feed.checkpoints.pushed];
    let sent = 0;
    let next = ahead(() => feed.read(s, p, since, pageLimit(feed.page, 0)));
    for (let page = 0; page < MAX_PAGES; page++) {
      const batch = await next;
      flight.beat = Date.now();
      if (batch.last <= since) break;
      // In a long push, the peer may have pulled past this page meanwhile (it says so when it pulls).
      const stored = page === 0 ? since : ((await currentPeer(s, peer.id))?.[feed.checkpoints.pushed] ?? since);
      const held = batch.last <= stored;
      const more = (batch.more || held) && page + 1 < MAX_PAGES;
      const from = held ? stored : batch.last;
      if (more) next = ahead(() => feed.read(s, p, from, pageLimit(feed.page, page + 1)));
      // A page can be empty and still move the checkpoint: the peer already holds all of it. A
      // deferred page ends the round: the peer's pull takes it, and tells us how far it got.
      if (batch.items.length && !held && !(await feed.send(s, p, batch.items))) break;
      if (!held) sent += batch.items.length;
      since = from;
      await s.db.update(peers).set({ [feed.checkpoints.pushed]: sql`max(${col}, ${since})` }).where(eq(peers.id, peer.id));
      if (!more) break;
    }
    return sent;
  }, feed.stallMs ?? FLIGHT_STALL_MS);
}

/** Fetches the peer's entries after our pull checkpoint and applies them. Returns how many changed something. */
export function pullFeed<T>(s: Services, peer: Peer, feed: Feed<T>): Promise<number> {
  return single(peer.id, feed.checkpoints.pulled, async (flight, first) => {
    const col = peers[feed.checkpoints.pulled];
    const p = first ? peer : await currentPeer(s, peer.id);
    // Checked when a round starts, never between pages: two sites that start pulling from each
    // other at once both go on (neither waits for the other), and the next tick pulls what was left.
    if (!p || streamingFromUs(p.remoteSite, feed as Feed<unknown>)) return 0;
    let since = p[feed.checkpoints.pulled];
    let applied = 0;
    let next = ahead(() => feed.fetch(s, p, since, pageLimit(feed.page, 0), since));
    for (let page = 0; page < MAX_PAGES; page++) {
      const body = await next;
      flight.beat = Date.now();
      if (body.site === s.siteId) throw new Error("this peer URL points back at this site itself");
      const more = body.more && page + 1 < MAX_PAGES;
      flight.streamingFrom = more ? body.site : null;
      // `since` is what we have applied: the peer's pushes to us can skip it.
      const committed = since;
      if (more) next = ahead(() => feed.fetch(s, p, body.last, pageLimit(feed.page, page + 1), committed));
      if (body.items.length) applied += await feed.apply(s, body.site, body.items);
      since = body.last;
      await s.db
        .update(peers)
        .set({ [feed.checkpoints.pulled]: sql`max(${col}, ${since})`, [feed.checkpoints.remote]: body.head, remoteSite: body.site })
        .where(eq(peers.id, peer.id));
      if (!more) break;
    }
    return applied;
  }, feed.stallMs ?? FLIGHT_STALL_MS);
}
