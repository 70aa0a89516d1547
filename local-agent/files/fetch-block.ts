/**
 * Fetches one block from peers (GET /api/sync/files/download?hash=), verified by its SHA-256
 * before it is used. A peer that lacks it (404), refuses us or sends wrong bytes is skipped for
 * the next; null when none had it.
 */
import { CHUNK_SIZE } from "../../functions/files/chunks.js";
import { blockBuffers } from "./block-buffers.js";
import { BlockClient } from "./block-client.js";
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

/** How blocks are downloaded (block-client.ts; tests serve them from memory). */
export interface BlockDownload {
  /** The body of a 200 of at most `max` bytes, null on any other answer; throws when the peer cannot be reached or times out. */
  get(url: string, max: number): Promise<Buffer | null>;
  /** A block `get` gave is used: its buffer may be reused. */
  release?(block: Buffer): void;
}

/** The agent's one client, its bodies read into the agent's buffer pool. */
export const httpDownload = new BlockClient(blockBuffers);

export async function fetchBlock(peers: readonly PeerRef[], hash: string, stats: FetchStats, download: BlockDownload = httpDownload): Promise<Buffer | null> {
  for (const peer of peers) {
    try {
      const block = await download.get(`${peer.url}/api/sync/files/download?hash=${hash}`, CHUNK_SIZE);
      if (block === null) continue;
      if (sha256(block) !== hash) {
        stats.corrupt++;
        download.release?.(block);
        continue;
      }
      stats.network++;
      stats.bytes += block.length;
      return block;
    } catch {
      // Unreachable, timed out or cut off: try the next peer.
    }
  }
  return null;
}
