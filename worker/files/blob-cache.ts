/**
 * Small files' bytes held for a moment in the worker's memory, by SHA-256: what the agent sent
 * with an upload, or a peer with a push, is forwarded with the next push and handed to the
 * agent with its wake, so a small file needs no download round trip (B1 latency, bursts of
 * small files). Bounded and lossy by design: a miss only means the block is downloaded from
 * disk as usual. Never trusted: bytes enter only after their hash is checked here, and the agent
 * checks again before writing.
 */
import { INLINE_MAX, fromBase64, toBase64 } from "../../functions/files/chunks.js";
import type { Blobs } from "../../functions/wire/files.js";
import { sha256Hex } from "./sha256.js";

const MAX_BYTES = 32 * 1024 * 1024;

const entries = new Map<string, Uint8Array>();
let bytes = 0;

function put(hash: string, data: Uint8Array): void {
  if (entries.has(hash) || data.length > INLINE_MAX) return;
  entries.set(hash, data);
  bytes += data.length;
  // Oldest first: a Map iterates in insertion order.
  for (const [k, v] of entries) {
    if (bytes <= MAX_BYTES) break;
    entries.delete(k);
    bytes -= v.length;
  }
}

/** Adds base64 bytes claimed to have SHA-256 `hash`; false (nothing kept) when they do not. */
export async function acceptBlob(hash: string, base64: string): Promise<boolean> {
  let data: Uint8Array;
  try {
    data = fromBase64(base64);
  } catch {
    return false;
  }
  if ((await sha256Hex(data)) !== hash) return false;
  put(hash, data);
  return true;
}

/** Adds a message's blobs; those that do not match their hash are dropped (the agent downloads those files). */
export async function acceptBlobs(blobs: Blobs | undefined): Promise<void> {
  for (const [hash, data] of Object.entries(blobs ?? {})) await acceptBlob(hash, data);
}

/** Forgets every block: a busy spell is over (worker/memory.ts). */
export function dropBlobs(): void {
  entries.clear();
  bytes = 0;
}

export function cachedBlob(hash: string): Uint8Array | undefined {
  return entries.get(hash);
}

/**
 * The `blobs` field of a message carrying these entries: the cached bytes of those worth inlining
 * (small, non-empty, not deleted), or nothing when there are none.
 */
export function inlineBlobs(files: Iterable<{ hash: string | null; size: number; deleted: boolean }>): { blobs?: Blobs } {
  const blobs: Blobs = {};
  let any = false;
  for (const e of files) {
    if (e.deleted || e.hash === null || e.size <= 0 || e.size > INLINE_MAX) continue;
    const data = entries.get(e.hash);
    if (data === undefined) continue;
    blobs[e.hash] = toBase64(data);
    any = true;
  }
  return any ? { blobs } : {};
}
