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

/** A peer counts as online when it answered within two idle ticks and some. */
export function onlineWindowMs(peers: number): number {
  return 2.5 * idleTickMs(peers);
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
