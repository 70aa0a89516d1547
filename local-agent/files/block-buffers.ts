/**
 * 1 MiB buffers for reading blocks (hashing a file, serving a peer), reused. A fresh one is an
 * mmap (glibc's threshold is 64 KiB, launcher.ts) whose 256 pages fault in as the read fills
 * them, and is unmapped when the GC frees it; 200 files of 1 MiB cost the sending agent a sixth
 * of its CPU in allocation, faults and collections (B5, profiled). Free buffers are held weakly:
 * a burst reuses them, and the full collection of an idle agent (collect.ts) gives them back.
 */
import { CHUNK_SIZE } from "../../functions/files/chunks.js";

export class BlockBuffers {
  private free: WeakRef<Buffer>[] = [];

  constructor(
    readonly size = CHUNK_SIZE,
    private readonly keep = 64,
  ) {}

  take(): Buffer {
    for (let ref = this.free.pop(); ref !== undefined; ref = this.free.pop()) {
      const buf = ref.deref();
      if (buf !== undefined) return buf;
    }
    return Buffer.allocUnsafeSlow(this.size);
  }

  /** `buf` (or a view from its start) is not used any more, by anyone. */
  give(buf: Buffer): void {
    if (buf.byteOffset !== 0 || buf.buffer.byteLength !== this.size || this.free.length >= this.keep) return;
    this.free.push(new WeakRef(buf.length === this.size ? buf : Buffer.from(buf.buffer, 0, this.size)));
  }
}

/** The agent's one pool. */
export const blockBuffers = new BlockBuffers();
