/** The worker's hashing, through WebCrypto. */
import { fileHash } from "../../functions/files/chunks.js";

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
  let out = "";
  for (const b of digest) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Whether a file's `hash` is the one its `blocks` make (fileHash): what the zod shape check cannot see. */
export async function hashFitsBlocks(f: { hash: string | null; blocks: readonly string[] }): Promise<boolean> {
  return f.hash === null || (await fileHash(f.blocks, sha256Hex)) === f.hash;
}
