/**
 * Manifests written before a file's hash was made from its blocks' (fileHash in
 * functions/files/chunks.ts) hold, for files of more than one block, the SHA-256 of all their
 * bytes. They are converted once, in place, from the blocks every row keeps: the same content gets
 * the same hash on every site, so no version is made and nothing travels again.
 */
import type { Client } from "@libsql/client/web";
import { fileHash } from "../../functions/files/chunks.js";
import { sha256Hex } from "../files/sha256.js";

const DONE_KEY = "file_hash_of_blocks";

/** Returns how many rows it changed; 0 once done. */
export async function convertFileHashes(client: Client): Promise<number> {
  const done = await client.execute({ sql: "SELECT 1 FROM settings WHERE key = ?", args: [DONE_KEY] });
  if (done.rows.length > 0) return 0;
  const rs = await client.execute("SELECT path, hash, blocks FROM files WHERE hash IS NOT NULL AND json_array_length(blocks) > 1");
  const updates = [];
  for (const row of rs.rows) {
    const old = String(row["hash"]);
    const fresh = await fileHash(JSON.parse(String(row["blocks"])) as string[], sha256Hex);
    if (fresh === old) continue;
    // The disk columns follow when they name the same version; another version's stay as they are.
    updates.push({
      sql: "UPDATE files SET hash = ?, disk_hash = CASE WHEN disk_hash = ? THEN ? ELSE disk_hash END WHERE path = ? AND hash = ?",
      args: [fresh, old, fresh, String(row["path"]), old],
    });
  }
  await client.batch([...updates, { sql: "INSERT INTO settings (key, value) VALUES (?, '1') ON CONFLICT (key) DO NOTHING", args: [DONE_KEY] }], "write");
  return updates.length;
}
