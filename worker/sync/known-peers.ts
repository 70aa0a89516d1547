/**
 * The peer list, read at most once a second: wakes, pushes and the forwarding decision need it
 * on the latency path of every change, and a list a second old only changes where blocks are
 * fetched first, or which peer is spared a forwarded copy (it still pulls whatever it lacks).
 */
import type { PendingPage } from "../../functions/wire/files.js";
import type { Services } from "../services.js";
import { listPeers } from "./peers.js";

let peerList: { at: number; peers: PendingPage["peers"] } | null = null;

export async function knownPeers(s: Services): Promise<PendingPage["peers"]> {
  const now = Date.now();
  if (peerList === null || now - peerList.at > 1_000) {
    peerList = { at: now, peers: (await listPeers(s)).map((p) => ({ id: p.id, url: p.url, site: p.remoteSite })) };
  }
  return peerList.peers;
}
