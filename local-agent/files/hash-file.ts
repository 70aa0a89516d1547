/**
 * Hashes a file as sync sees it: the SHA-256 of each 1 MiB block, and the file's hash from those
 * (fileHash). The file is stat'ed before and after; if it changed meanwhile (still being written) the
 * result is refused, so a half-written file is never reported as a version.
 */
import { createHash } from "node:crypto";
import { closeSync, fstatSync, read, readSync, type Stats } from "node:fs";
import { promisify } from "node:util";
import { CHUNK_SIZE, INLINE_MAX, fileHash } from "../../functions/files/chunks.js";
import { blockBuffers } from "./block-buffers.js";
import type { InstanceRoot } from "./safe-fs.js";

export interface HashedFile {
  size: number;
  mtimeMs: number;
  hash: string;
  blocks: string[];
  /** The bytes themselves for a small file (INLINE_MAX), to send along with its version. */
  data?: Buffer;
}

/** The file changed while it was read; try again once it has settled. */
export class StillChanging extends Error {
  constructor(path: string) {
    super(`${path} changed while it was read`);
    this.name = "StillChanging";
  }
}

const readFd = promisify(read);

export function sameStat(a: Pick<Stats, "size" | "mtimeMs">, b: Pick<Stats, "size" | "mtimeMs">): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs;
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Null when the file is gone. Throws PathRefused for links and special files, StillChanging as above. */
export async function hashFile(root: InstanceRoot, syncPath: string): Promise<HashedFile | null> {
  const opened = await root.openRead(syncPath);
  if (opened === null) return null;
  const { fd, stat } = opened;
  // Small files (the common case) need no 1 MiB buffer, and keep theirs (`data`); a file that
  // grows fails the check below.
  const width = Math.max(1, Math.min(CHUNK_SIZE, stat.size));
  const pooled = stat.size > INLINE_MAX;
  const buf = pooled ? blockBuffers.take() : Buffer.allocUnsafe(width);
  try {
    const blocks: string[] = [];
    let offset = 0;
    for (;;) {
      // Fill one whole block (read may return less than asked), never past the size seen at
      // open: a file still being written may be far bigger by now (it fails the check below,
      // and reading it in blocks sized for the stale stat took minutes of blocked event loop).
      const want = Math.min(width, stat.size - offset);
      let filled = 0;
      while (filled < want) {
        // Small files (most of a burst) are read at once; big ones without blocking the loop.
        const bytesRead = !pooled ? readSync(fd, buf, filled, want - filled, offset + filled) : (await readFd(fd, buf, filled, want - filled, offset + filled)).bytesRead;
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled === 0) break;
      blocks.push(sha256(buf.subarray(0, filled)));
      offset += filled;
      if (filled < width) break;
    }
    const after = fstatSync(fd);
    if (!sameStat(stat, after) || offset !== after.size) throw new StillChanging(syncPath);
    // Replaced while we read the old inode (the materializer's rename, an editor's save).
    const now = await root.lstat(syncPath);
    if (now === null || now.ino !== after.ino || !sameStat(now, after)) throw new StillChanging(syncPath);
    const out: HashedFile = { size: after.size, mtimeMs: after.mtimeMs, hash: fileHash(blocks, sha256), blocks };
    if (!pooled && offset > 0) out.data = buf.subarray(0, offset);
    return out;
  } finally {
    closeSync(fd);
    if (pooled) blockBuffers.give(buf);
  }
}
