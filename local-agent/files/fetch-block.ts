/**
 * Fetches one block from peers (GET /api/sync/files/download?hash=), verified by its SHA-256
 * before it is used. A peer that lacks it (404), refuses us or sends wrong bytes is skipped for
 * the next; null when none had it.
 *
 * Plain node:http(s), not fetch: on a big transfer fetch's web streams cost the receiving agent
 * more CPU than hashing and writing the bytes (B5), and the body stays the socket's own chunks,
 * hashed and written as they came, never copied into one buffer.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { CHUNK_SIZE } from "../../functions/files/chunks.js";

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

/** A block's bytes in pieces, as they came off the socket (or one piece, from a file). */
export type Pieces = readonly Buffer[];

/**
 * GETs `url`: the body's pieces on a 200 of at most `max` bytes, null on any other answer;
 * throws when the peer cannot be reached or times out. Injectable for tests.
 */
export type BlockDownload = (url: string, max: number) => Promise<Pieces | null>;

const TIMEOUT_MS = 60_000;
const ERROR_BODY_MAX = 64 * 1024;
/** Reused connections: a file's blocks go to the same peer, up to BLOCKS_AT_ONCE at a time per file. */
const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

export const httpDownload: BlockDownload = (url, max) =>
  new Promise((resolve, reject) => {
    const secure = url.startsWith("https:");
    const req = (secure ? https : http).get(url, { agent: secure ? agents.https : agents.http, timeout: TIMEOUT_MS }, (res) => {
      // Also what a body cut short by either side ends in (after an answer, a no-op).
      res.on("error", reject);
      if (res.statusCode !== 200) {
        resolve(null);
        // Read the short error body so the connection can be reused; a long one is not worth it.
        let drained = 0;
        res.on("data", (piece: Buffer) => {
          drained += piece.length;
          if (drained > ERROR_BODY_MAX) req.destroy();
        });
        return;
      }
      if (Number(res.headers["content-length"] ?? 0) > max) {
        resolve(null);
        req.destroy();
        return;
      }
      const pieces: Buffer[] = [];
      let size = 0;
      res.on("data", (piece: Buffer) => {
        size += piece.length;
        if (size > max) req.destroy(new Error(`${url} sent more than ${max} bytes`));
        else pieces.push(piece);
      });
      res.on("end", () => resolve(pieces));
    });
    req.on("timeout", () => req.destroy(new Error(`${url} timed out`)));
    req.on("error", reject);
  });

export function piecesHash(pieces: Pieces): string {
  const h = createHash("sha256");
  for (const p of pieces) h.update(p);
  return h.digest("hex");
}

export function piecesLength(pieces: Pieces): number {
  let n = 0;
  for (const p of pieces) n += p.length;
  return n;
}

export async function fetchBlock(peers: readonly PeerRef[], hash: string, stats: FetchStats, download: BlockDownload = httpDownload): Promise<Pieces | null> {
  for (const peer of peers) {
    try {
      const pieces = await download(`${peer.url}/api/sync/files/download?hash=${hash}`, CHUNK_SIZE);
      if (pieces === null) continue;
      if (piecesHash(pieces) !== hash) {
        stats.corrupt++;
        continue;
      }
      stats.network++;
      stats.bytes += piecesLength(pieces);
      return pieces;
    } catch {
      // Unreachable, timed out or cut off: try the next peer.
    }
  }
  return null;
}
