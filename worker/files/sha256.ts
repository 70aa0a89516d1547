/** The worker's hashing, through WebCrypto. */
import { fileHash } from "../../functions/files/chunks.js";
import { toHex } from "../../functions/util/hex.js";

export async function sha256Hex(data: Uint8Array): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}

/** Whether a file's `hash` is the one its `blocks` make (fileHash): what the zod shape check cannot see. */
export async function hashFitsBlocks(f: { hash: string | null; blocks: readonly string[] }): Promise<boolean> {
  return f.hash === null || (await fileHash(f.blocks, sha256Hex)) === f.hash;
}
