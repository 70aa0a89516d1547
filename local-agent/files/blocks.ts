/** Reading one block from the instance folder, for a local copy or a peer. */
import { closeSync, read } from "node:fs";
import { promisify } from "node:util";
import { blockRange } from "../../functions/files/chunks.js";
import type { BlockBuffers } from "./block-buffers.js";
import type { BlockLocation, DiskMirror } from "./disk-mirror.js";
import { sameStat, sha256 } from "./hash-file.js";
import { PathRefused, type InstanceRoot } from "./safe-fs.js";

const readFd = promisify(read);

/**
 * The block at `loc`, and whether the file is still as it was hashed (same size and mtime, the
 * test the startup reconciliation trusts too), in which case the block needs no second hashing.
 */
async function readAt(root: InstanceRoot, loc: BlockLocation, buffers: BlockBuffers | undefined): Promise<{ buf: Buffer; asHashed: boolean } | null> {
  const opened = await root.openRead(loc.path);
  if (opened === null) return null;
  try {
    const { offset, length } = blockRange(opened.stat.size, loc.index);
    if (length === 0) return null;
    const buf = buffers !== undefined && length <= buffers.size ? buffers.take().subarray(0, length) : Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await readFd(opened.fd, buf, filled, length - filled, offset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    if (filled < length) {
      buffers?.give(buf);
      return null;
    }
    return { buf, asHashed: sameStat(opened.stat, loc) };
  } finally {
    closeSync(opened.fd);
  }
}

/**
 * The block with SHA-256 `hash` from any file on disk said to hold it, or null. For a peer
 * (`forPeer`: the pool its buffer comes from, to be given back once it is sent) it is hashed
 * again only if its file changed since it was hashed: re-hashing every block served cost the
 * sending agent as much CPU as the rest of a big transfer (B5), and the receiver checks every
 * block anyway. A block copied locally is always checked here: one that no longer matches must
 * fall through to the next file or the network, not fail the whole file's check each time.
 */
export async function readLocalBlock(root: InstanceRoot, mirror: DiskMirror, hash: string, forPeer?: BlockBuffers): Promise<Buffer | null> {
  for (const loc of mirror.locate(hash)) {
    try {
      const read = await readAt(root, loc, forPeer);
      if (read === null) continue;
      if ((forPeer !== undefined && read.asHashed) || sha256(read.buf) === hash) return read.buf;
      forPeer?.give(read.buf);
    } catch (err) {
      // A file that became a link or vanished is just not a source any more.
      if (!(err instanceof PathRefused) && (err as NodeJS.ErrnoException).code === undefined) throw err;
    }
  }
  return null;
}
