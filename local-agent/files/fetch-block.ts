/**
 * Fetches one block from peers (GET /api/sync/files/download?hash=), verified by its SHA-256
 * before it is used. A peer that lacks it (404), refuses us or sends wrong bytes is skipped for
 * the next; null when none had it.
 */
import { CHUNK_SIZE } from "../../functions/files/chunks.js";
import { sha256 } from "./hash-file.js";

export interface PeerRef {
  url: string;
  site: string | null;
}

export interface FetchStats {
  /** Blocks that arrived from peers, and their bytes. */
  network: number;
  bytes: number;
  /** Blocks refused because their bytes did not match their hash. */
  corrupt: number;
}

const TIMEOUT_MS = 60_000;

export async function fetchBlock(peers: readonly PeerRef[], hash: string, stats: FetchStats, fetchFn: typeof fetch = fetch): Promise<Buffer | null> {
  for (const peer of peers) {
    try {
      const res = await fetchFn(`${peer.url}/api/sync/files/download?hash=${hash}`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
      if (!res.ok) {
        // Read the short error body: cancelling it makes the server's write fail noisily.
        await res.text().catch(() => undefined);
        continue;
      }
      const buf = Buffer.from(await res.arrayBuffer());
      if (buf.length > CHUNK_SIZE || sha256(buf) !== hash) {
        stats.corrupt++;
        continue;
      }
      stats.network++;
      stats.bytes += buf.length;
      return buf;
    } catch {
      // Unreachable or timed out: try the next peer.
    }
  }
  return null;
}
