/**
 * Where the bytes of a block come from. On a site the instance folder already holds every file,
 * so the agent serves blocks straight from disk (no second copy, DESIGN.md §1); a relay, which
 * has no folder, would implement this over a blob table in libSQL (or R2) behind the same
 * interface. Only the agent-backed source exists so far (worker/files/agent-link.ts).
 */
export interface BlobSource {
  /**
   * The block whose SHA-256 is `hash`, as a stream of its bytes, or null when this source has no
   * such block. An implementation must only return bytes it has verified against `hash` (a file
   * can change under the reader), so callers may trust a non-null answer's content, and must
   * still verify what arrives over a network.
   */
  getChunk(hash: string): Promise<ReadableStream<Uint8Array> | null>;
}
