/**
 * How often a site runs anti-entropy with its peers. Pushes carry every change at once, so the
 * tick only heals what a lost push missed and tells who is online: every 2 s while something
 * moves, and while all is quiet once per idle period, which grows with the number of peers
 * (each tick pulls from every peer, so a full mesh of 10 sites idles at a third of the cost it
 * would at 10 s, B3/B7).
 */
export const BUSY_TICK_MS = 2_000;
const IDLE_TICK_MIN_MS = 10_000;
/** The agent caps the delay it accepts at 30 s too (local-agent/agent.ts). */
const IDLE_TICK_MAX_MS = 30_000;
const IDLE_MS_PER_PEER = 3_000;

export function idleTickMs(peers: number): number {
  return Math.min(IDLE_TICK_MAX_MS, Math.max(IDLE_TICK_MIN_MS, peers * IDLE_MS_PER_PEER));
}

/** Failed rounds in a row that are taken for a blip (a timeout under load): the next round goes ahead as usual. */
const BLIPS = 2;

/**
 * How long a peer that failed `failures` rounds in a row is left alone after the last one: not
 * at all for a blip, then the busy tick, doubling, up to the idle tick (a peer that is away is
 * tried as often as one that answers and is quiet: a closed laptop cost each of its peers a round
 * every 2 s and a failed push per change). When it comes back, its own first tick pulls what it
 * missed and pushes what it has.
 */
export function retryAfterMs(failures: number, peers: number): number {
  return failures <= BLIPS ? 0 : Math.min(idleTickMs(peers), BUSY_TICK_MS * 2 ** Math.min(failures - BLIPS - 1, 10));
}

/**
 * The delay the agent is asked to wait before the next tick: busy while something moved, idle
 * otherwise, and never past the moment the first failing peer is due again (`retriesInMs`: per
 * failing peer, how long until it is; a peer that has just failed is due after a busy tick).
 */
export function nextTickMs(peers: number, moved: boolean, retriesInMs: readonly number[]): number {
  if (moved) return BUSY_TICK_MS;
  return Math.max(BUSY_TICK_MS, Math.min(idleTickMs(peers), ...retriesInMs));
}

/** A peer counts as online when it answered within two idle ticks and some. */
export function onlineWindowMs(peers: number): number {
  return 2.5 * idleTickMs(peers);
}

/**
 * Whether a ping that found the peer in step may leave its row as it is: the row says it answered,
 * within an idle tick and a half, so it still shows online (onlineWindowMs) when the next tick
 * records it again. An idle site then writes its state database every other tick, not every one
 * (each write is a commit and later a checkpoint with its fsyncs, B7).
 */
export function recentlySeen(peer: { lastSeenAt: number | null; failures: number; lastError: string | null }, peers: number, now: number): boolean {
  return peer.failures === 0 && peer.lastError === null && peer.lastSeenAt !== null && now - peer.lastSeenAt < 1.5 * idleTickMs(peers);
}

/** How long a successful round may leave the peer's row as it is (see syncedJustNow). */
const SYNC_NOTE_MS = 1_000;

/**
 * Whether a round that succeeded may leave the peer's row as it is: the row says the peer is fine
 * and was synced within the last second. Every change is pushed to every peer at once, and
 * each write of the row is a commit on the state database: a full mesh of 10 wrote 18 of them per
 * row the app wrote (B3). The row's times are shown to the second.
 */
export function syncedJustNow(peer: { lastSyncAt: number | null; failures: number; lastError: string | null }, now: number): boolean {
  return peer.failures === 0 && peer.lastError === null && peer.lastSyncAt !== null && now - peer.lastSyncAt < SYNC_NOTE_MS;
}

/** Newest sequences of one site: database rows and file versions. */
export interface Heads {
  rows: number;
  files: number;
}

/**
 * Whether a round with a peer would move nothing: our pushes to it have reached our heads and
 * our pulls from it have reached its heads (pages skip what the reader holds and still move the
 * checkpoint, so a site in step has its checkpoints at the heads). A round then reads only
 * empty pages on both sites; a ping's heads tell the same with one request (B7).
 */
export function inStep(checkpoints: { pushedSeq: number; filesPushedSeq: number; pulledSeq: number; filesPulledSeq: number }, ours: Heads, theirs: Heads): boolean {
  return ours.rows <= checkpoints.pushedSeq && ours.files <= checkpoints.filesPushedSeq && theirs.rows <= checkpoints.pulledSeq && theirs.files <= checkpoints.filesPulledSeq;
}
