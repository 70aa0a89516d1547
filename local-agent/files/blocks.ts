/** Reading one block from the instance folder, verified: the disk may have changed since we hashed it. */
import { closeSync, read } from "node:fs";
import { promisify } from "node:util";
import { CHUNK_SIZE } from "../../functions/files/chunks.js";
import type { DiskMirror } from "./disk-mirror.js";
import { sha256 } from "./hash-file.js";
import { PathRefused, type InstanceRoot } from "./safe-fs.js";

const readFd = promisify(read);

async function readAt(root: InstanceRoot, path: string, index: number): Promise<Buffer | null> {
  const opened = await root.openRead(path);
  if (opened === null) return null;
  try {
    const offset = index * CHUNK_SIZE;
    const length = Math.max(0, Math.min(CHUNK_SIZE, opened.stat.size - offset));
    if (length === 0) return null;
    const buf = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await readFd(opened.fd, buf, filled, length - filled, offset + filled);
      if (bytesRead === 0) return null;
      filled += bytesRead;
    }
    return buf;
  } finally {
    closeSync(opened.fd);
  }
}

/** The block with SHA-256 `hash` from any file on disk said to hold it, or null. */
export async function readLocalBlock(root: InstanceRoot, mirror: DiskMirror, hash: string): Promise<Buffer | null> {
  for (const loc of mirror.locate(hash)) {
    try {
      const buf = await readAt(root, loc.path, loc.index);
      if (buf !== null && sha256(buf) === hash) return buf;
    } catch (err) {
      // A file that became a link or vanished is just not a source any more.
      if (!(err instanceof PathRefused) && (err as NodeJS.ErrnoException).code === undefined) throw err;
    }
  }
  return null;
}
