/**
 * Content addressing: a file is cut into fixed 1 MiB blocks, each named by its SHA-256, and the
 * whole file by a hash of those (fileHash). Only blocks a receiver lacks travel, an interrupted
 * transfer keeps the blocks it already verified, and a rename sends nothing (the blocks are on
 * disk under the old name). Hashing itself is the shells' business (node:crypto in the agent,
 * WebCrypto in the worker).
 */
import { fromHex } from "../util/hex.js";

export const CHUNK_SIZE = 1024 * 1024;

/** 1 TiB: far beyond any instance folder, but bounds what a peer can make us allocate. */
export const MAX_FILE_SIZE = CHUNK_SIZE * 1024 * 1024;
export const MAX_BLOCKS = MAX_FILE_SIZE / CHUNK_SIZE;

/** SHA-256 of zero bytes: the hash of an empty file, which has no blocks. */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

export const SHA256_RE = /^[0-9a-f]{64}$/;

/**
 * Files up to this size may travel inside the messages that announce them (upload, push, wake),
 * base64-encoded, so a small file reaches a peer without a separate download. Larger ones, and
 * small ones whose bytes are not at hand, go block by block through download.
 */
export const INLINE_MAX = 64 * 1024;

export function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export function fromBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function blockCount(size: number): number {
  return Math.ceil(size / CHUNK_SIZE);
}

/** Byte range of block `index` in a file of `size` bytes. */
export function blockRange(size: number, index: number): { offset: number; length: number } {
  const offset = index * CHUNK_SIZE;
  return { offset, length: Math.max(0, Math.min(CHUNK_SIZE, size - offset)) };
}

/**
 * A file's hash. A file of at most one block: the SHA-256 of its bytes, which is its block's hash
 * (EMPTY_SHA256 for none). A longer one: the SHA-256 of its blocks' 32-byte digests in order, as
 * Dropbox's content hash does. So checking every block checks the whole file, and a file is
 * hashed in one pass: a second SHA-256 over all the bytes was a fifth of the receiving agent's
 * CPU on a big file, and on the sender half the time before the first block could travel (B5).
 * `sha256` is the shell's (sync in the agent, a promise from WebCrypto in the worker).
 */
export function fileHash<R extends string | Promise<string>>(blocks: readonly string[], sha256: (bytes: Uint8Array) => R): string | R {
  if (blocks.length <= 1) return blocks[0] ?? EMPTY_SHA256;
  const digests = new Uint8Array(32 * blocks.length);
  blocks.forEach((b, i) => digests.set(fromHex(b), 32 * i));
  return sha256(digests);
}

/**
 * Why (size, hash, blocks) cannot describe one file, or null when they can. Catches what can be
 * caught without hashing: a block list of the wrong length, and for files of at most one block a
 * whole-file hash that differs from that block's (it is the same bytes). The shells check a
 * longer file's hash against fileHash of its blocks.
 */
export function contentShapeError(size: number, hash: string, blocks: readonly string[]): string | null {
  if (!Number.isSafeInteger(size) || size < 0) return "size must be a whole number of bytes";
  if (size > MAX_FILE_SIZE) return `size is over the limit of ${MAX_FILE_SIZE} bytes`;
  const want = blockCount(size);
  if (blocks.length !== want) return `a file of ${size} bytes has ${want} blocks of ${CHUNK_SIZE} bytes, not ${blocks.length}`;
  if (want === 0 && hash !== EMPTY_SHA256) return "an empty file's hash must be the SHA-256 of no bytes";
  if (want === 1 && hash !== blocks[0]) return "a file of one block must have the block's hash as its hash";
  return null;
}
