/**
 * Builds one received file in its temp file: every block from the fastest place that has it (the
 * bytes handed over with a wake, a file on this disk, then peers), each verified by its SHA-256,
 * written at its offset, fsynced, and the whole file checked against its hash. A temp file left
 * by an interrupted transfer is reused: blocks already in it are re-verified and kept.
 */
import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, fsync, ftruncateSync, openSync, promises as fsp, read, write, writeSync, type Stats } from "node:fs";
import { promisify } from "node:util";
import { CHUNK_SIZE } from "../../functions/files/chunks.js";
import type { Blobs, PendingFile } from "../../functions/wire/files.js";
import { readLocalBlock } from "./blocks.js";
import type { DiskMirror } from "./disk-mirror.js";
import { fetchBlock, type FetchStats, type PeerRef } from "./fetch-block.js";
import { sha256 } from "./hash-file.js";
import type { InstanceRoot } from "./safe-fs.js";
import { mapLimit } from "./map-limit.js";

/** Retry later, quietly: not an error of the entry (no peer has the blocks yet, a local edit pending). */
export class NotYet extends Error {}

export type AssembleStats = FetchStats & { inline: number; local: number; resumed: number };

export interface AssembleSources {
  root: InstanceRoot;
  mirror: DiskMirror;
  peers: readonly PeerRef[];
  blobs: Blobs | undefined;
  stats: AssembleStats;
  fetchFn?: typeof fetch | undefined;
}

const BLOCKS_AT_ONCE = 8;
/** Writes up to this size go straight into the page cache synchronously. */
const SYNC_WRITE_MAX = 64 * 1024;
const readAt = promisify(read);
const writeAt = promisify(write) as (fd: number, buf: Buffer, offset: number, length: number, position: number) => Promise<{ bytesWritten: number }>;
const fsyncAt = promisify(fsync);

/** Same (path, version) → same temp name, which is what lets a transfer resume. */
export function tempToken(syncPath: string, hash: string): string {
  return createHash("sha256").update(`${syncPath}\0${hash}`).digest("hex").slice(0, 32);
}

/** Fills `temp` with every block of `f`, verified; returns its final stat. Throws NotYet while blocks are missing. */
export async function assembleFile(temp: string, f: PendingFile & { hash: string }, src: AssembleSources): Promise<Stats> {
  const { stats } = src;
  // A plain descriptor, and synchronous open/stat/close and small writes: microseconds on a local
  // disk, where the promise API's per-call overhead was most of the cost of a burst of small
  // files. fsync, reads and large writes stay asynchronous (they can take milliseconds).
  const fd = openSync(temp, constants.O_RDWR | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0), 0o644);
  let closed = false;
  const close = (): void => {
    if (!closed) closeSync(fd);
    closed = true;
  };
  try {
    const have = fstatSync(fd).size;
    const whole = new InOrderHash();
    let missing = 0;
    await mapLimit(
      f.blocks.map((b, i) => ({ b, i })),
      BLOCKS_AT_ONCE,
      async ({ b, i }) => {
        const offset = i * CHUNK_SIZE;
        const length = Math.min(CHUNK_SIZE, f.size - offset);
        // Resume: a block already in the temp file from an interrupted run.
        if (offset + length <= have) {
          const buf = Buffer.allocUnsafe(length);
          const { bytesRead } = await readAt(fd, buf, 0, length, offset);
          if (bytesRead === length && sha256(buf) === b) {
            stats.resumed++;
            whole.add(i, buf);
            return;
          }
        }
        let block = inlineBlock(src.blobs, b);
        if (block !== null) stats.inline++;
        else if ((block = await readLocalBlock(src.root, src.mirror, b)) !== null) stats.local++;
        else block = await fetchBlock(src.peers, b, stats, src.fetchFn);
        if (block === null || block.length !== length) {
          missing++;
          return;
        }
        if (length <= SYNC_WRITE_MAX) writeSync(fd, block, 0, length, offset);
        else await writeAt(fd, block, 0, length, offset);
        whole.add(i, block);
      },
    );
    if (missing > 0) throw new NotYet(`${missing} block(s) of ${f.path} are on no reachable peer yet`);
    // Blocks written at their offsets give the file its size; only a longer leftover needs cutting.
    if (have > f.size) ftruncateSync(fd, f.size);
    await fsyncAt(fd);
    // The whole file's hash, from the blocks as they were written (read back only if they came
    // too far out of order to keep in memory).
    const digest = whole.complete(f.blocks.length) ?? (await hashFd(fd, f.size));
    if (digest !== f.hash) {
      close();
      await fsp.rm(temp, { force: true });
      throw new Error(`the assembled file does not match its hash ${f.hash.slice(0, 12)}…; nothing was written`);
    }
    return fstatSync(fd);
  } finally {
    close();
  }
}

/**
 * SHA-256 of a file from its blocks as they arrive out of order: fed in index order, holding at
 * most MAX_HELD bytes of early blocks; past that it gives up (complete() is null) and the caller
 * reads the file back instead.
 */
class InOrderHash {
  private static readonly MAX_HELD = 32 * CHUNK_SIZE;
  private readonly h = createHash("sha256");
  private readonly early = new Map<number, Buffer>();
  private held = 0;
  private next = 0;
  private failed = false;

  add(index: number, block: Buffer): void {
    if (this.failed) return;
    if (index !== this.next) {
      this.early.set(index, block);
      this.held += block.length;
      if (this.held > InOrderHash.MAX_HELD) {
        this.failed = true;
        this.early.clear();
      }
      return;
    }
    this.h.update(block);
    this.next++;
    for (let b = this.early.get(this.next); b !== undefined; b = this.early.get(this.next)) {
      this.early.delete(this.next);
      this.held -= b.length;
      this.h.update(b);
      this.next++;
    }
  }

  complete(blocks: number): string | null {
    return this.failed || this.next !== blocks ? null : this.h.digest("hex");
  }
}

/** A small file's bytes handed over with a wake, if they are what they claim to be. */
function inlineBlock(blobs: Blobs | undefined, hash: string): Buffer | null {
  const b64 = blobs?.[hash];
  if (b64 === undefined) return null;
  const buf = Buffer.from(b64, "base64");
  return sha256(buf) === hash ? buf : null;
}

async function hashFd(fd: number, size: number): Promise<string> {
  const h = createHash("sha256");
  const buf = Buffer.allocUnsafe(Math.max(1, Math.min(CHUNK_SIZE, size)));
  for (let offset = 0; offset < size; ) {
    const { bytesRead } = await readAt(fd, buf, 0, Math.min(buf.length, size - offset), offset);
    if (bytesRead === 0) break;
    h.update(buf.subarray(0, bytesRead));
    offset += bytesRead;
  }
  return h.digest("hex");
}
