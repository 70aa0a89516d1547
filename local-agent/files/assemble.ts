/**
 * Builds one received file in its temp file: every block from the fastest place that has it (the
 * bytes handed over with a wake, a file on this disk, then peers), each verified by its SHA-256,
 * written at its offset, and fsynced. The file's hash is a hash of its blocks' (fileHash), checked
 * before anything is fetched, so every block verified is the whole file verified. A temp file left
 * by an interrupted transfer is reused: blocks already in it are re-verified and kept.
 */
import { createHash } from "node:crypto";
import { closeSync, constants, fdatasync, fstatSync, fsync, ftruncateSync, open, read, write, writeSync, type Stats } from "node:fs";
import { promisify } from "node:util";
import { blockRange, fileHash } from "../../functions/files/chunks.js";
import type { Blobs, PendingFile } from "../../functions/wire/files.js";
import { readLocalBlock } from "./blocks.js";
import type { DiskMirror } from "./disk-mirror.js";
import { fetchBlock, httpDownload, type BlockDownload, type FetchStats, type PeerRef } from "./fetch-block.js";
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
  download?: BlockDownload | undefined;
}

const BLOCKS_AT_ONCE = 8;
/** Writes up to this size go straight into the page cache synchronously. */
const SYNC_WRITE_MAX = 64 * 1024;
const openAt = promisify(open);
const readAt = promisify(read);
const writeAt = promisify(write);
const fsyncAt = promisify(fsync);
const fdatasyncAt = promisify(fdatasync);
/**
 * Bytes written between two flushes started while a large file is still arriving. The kernel
 * writes dirty pages back by itself only after ~30 s or past a share of RAM, so the final fsync
 * used to write the whole file after its last block came: 0.36 s for 256 MiB here, a fifth of
 * B5's big file. Flushed as it arrives, the disk works while the network does.
 */
const FLUSH_EVERY = 32 * 1024 * 1024;

/** Same (path, version) → same temp name, which is what lets a transfer resume. */
export function tempToken(syncPath: string, hash: string): string {
  return createHash("sha256").update(`${syncPath}\0${hash}`).digest("hex").slice(0, 32);
}

/** Fills `temp` with every block of `f`, verified; returns its final stat. Throws NotYet while blocks are missing. */
export async function assembleFile(temp: string, f: PendingFile & { hash: string }, src: AssembleSources): Promise<Stats> {
  const { stats } = src;
  if (fileHash(f.blocks, sha256) !== f.hash) throw new Error(`the blocks of ${f.path} do not make its hash ${f.hash.slice(0, 12)}…; nothing was written`);
  // A plain descriptor, and synchronous stat/close and small writes: microseconds on a local
  // disk, where the promise API's per-call overhead was most of the cost of a burst of small
  // files. The open creates a file, which can take the kernel 0.3–0.5 ms of its own CPU (ext4
  // passes over inodes freed in the last seconds while it looks for a free one, and a burst
  // frees many): it runs off the event loop, like fsync, reads and large writes.
  const fd = await openAt(temp, constants.O_RDWR | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0), 0o644);
  let closed = false;
  const close = (): void => {
    if (!closed) closeSync(fd);
    closed = true;
  };
  const flusher = new Flusher(() => fdatasyncAt(fd));
  try {
    const have = fstatSync(fd).size;
    let missing = 0;
    await mapLimit(
      f.blocks.map((b, i) => ({ b, i })),
      BLOCKS_AT_ONCE,
      async ({ b, i }) => {
        const { offset, length } = blockRange(f.size, i);
        // Resume: a block already in the temp file from an interrupted run.
        if (offset + length <= have) {
          const buf = Buffer.allocUnsafe(length);
          const { bytesRead } = await readAt(fd, buf, 0, length, offset);
          if (bytesRead === length && sha256(buf) === b) {
            stats.resumed++;
            return;
          }
        }
        const found = await findBlock(src, b);
        if (found === null || found.block.length !== length) {
          missing++;
          if (found !== null) found.release?.(found.block);
          return;
        }
        try {
          if (length <= SYNC_WRITE_MAX) writeSync(fd, found.block, 0, length, offset);
          else await writeAt(fd, found.block, 0, length, offset);
        } finally {
          found.release?.(found.block);
        }
        flusher.wrote(length);
      },
    );
    if (missing > 0) throw new NotYet(`${missing} block(s) of ${f.path} are on no reachable peer yet`);
    // Blocks written at their offsets give the file its size; only a longer leftover needs cutting.
    if (have > f.size) ftruncateSync(fd, f.size);
    await flusher.settle();
    await fsyncAt(fd);
    return fstatSync(fd);
  } finally {
    // Never close under a flush still running: the number could be a new file's by the time it runs.
    await flusher.idle();
    close();
  }
}

/** Starts `flush` every `every` bytes written, one at a time (exported for tests). */
export class Flusher {
  private running: Promise<void> | null = null;
  private failure: { err: unknown } | null = null;
  private unflushed = 0;

  constructor(
    private readonly flush: () => Promise<void>,
    private readonly every = FLUSH_EVERY,
  ) {}

  wrote(bytes: number): void {
    this.unflushed += bytes;
    if (this.unflushed < this.every || this.running !== null) return;
    this.unflushed = 0;
    this.running = this.flush()
      .catch((err: unknown) => {
        this.failure ??= { err };
      })
      .finally(() => {
        this.running = null;
      });
  }

  /** Resolves once no flush runs. */
  async idle(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  /** The same, and throws what a flush met (the final fsync would likely not see it again). */
  async settle(): Promise<void> {
    await this.idle();
    if (this.failure !== null) throw this.failure.err;
  }
}

/**
 * Block `hash` from the fastest place that has it (counted in the stats), or null; `release`
 * gives a downloaded block's buffer back once it is written.
 */
async function findBlock(src: AssembleSources, hash: string): Promise<{ block: Buffer; release?: (b: Buffer) => void } | null> {
  const inline = inlineBlock(src.blobs, hash);
  if (inline !== null) {
    src.stats.inline++;
    return { block: inline };
  }
  const local = await readLocalBlock(src.root, src.mirror, hash);
  if (local !== null) {
    src.stats.local++;
    return { block: local };
  }
  const download = src.download ?? httpDownload;
  const block = await fetchBlock(src.peers, hash, src.stats, download);
  return block === null ? null : { block, release: (b) => download.release?.(b) };
}

/** A small file's bytes handed over with a wake, if they are what they claim to be. */
function inlineBlock(blobs: Blobs | undefined, hash: string): Buffer | null {
  const b64 = blobs?.[hash];
  if (b64 === undefined) return null;
  const buf = Buffer.from(b64, "base64");
  return sha256(buf) === hash ? buf : null;
}
