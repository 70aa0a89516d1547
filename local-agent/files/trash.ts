/**
 * Content the materializer replaced or deleted, kept for a few minutes under
 * `.scoutsync/trash/<sha256>` (inside the instance folder, so a hard link or rename is enough,
 * and excluded from sync). Its blocks stay findable through the mirror: a rename arrives as a
 * delete and a create in any order, and a conflict's loser may need the bytes the winner just
 * replaced; both are then served from here instead of the network.
 */
import { promises as fsp } from "node:fs";
import path from "node:path";
import { STATE_DIR } from "../../functions/files/ignore.js";
import type { DiskMirror } from "./disk-mirror.js";
import { isMissing, type InstanceRoot } from "./safe-fs.js";

export const TRASH_DIR = `${STATE_DIR}/trash`;

export class Trash {
  private readonly kept = new Map<string, number>();

  constructor(
    private readonly root: InstanceRoot,
    private readonly mirror: DiskMirror,
    private readonly ttlMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Empties the trash left by an earlier run (the mirror does not know it). */
  async reset(): Promise<void> {
    await fsp.rm(path.join(this.root.dir, ...TRASH_DIR.split("/")), { recursive: true, force: true });
  }

  /**
   * Keeps the content now at `syncPath` (as the mirror knows it). `move` renames it away (a
   * delete); otherwise a hard link keeps it while the caller renames a new file over it.
   * Best effort: without it only more bytes travel.
   */
  async keep(syncPath: string, move: boolean): Promise<boolean> {
    const entry = this.mirror.get(syncPath);
    if (entry === undefined || entry.blocks === null || entry.size === 0) return false;
    const name = `${TRASH_DIR}/${entry.hash}`;
    try {
      const st = await this.root.lstat(syncPath);
      if (st === null || !st.isFile() || st.size !== entry.size || st.mtimeMs !== entry.mtimeMs) return false;
      const from = await this.root.resolve(syncPath);
      if (this.mirror.get(name) !== undefined) {
        if (move) await fsp.unlink(from);
        return move;
      }
      const to = await this.root.resolve(name, true);
      if (move) await fsp.rename(from, to);
      else await fsp.link(from, to);
      this.mirror.set(name, entry);
      this.kept.set(name, this.now());
      return move;
    } catch (err) {
      if (!isMissing(err) && (err as NodeJS.ErrnoException).code !== "EEXIST" && (err as NodeJS.ErrnoException).code !== "EPERM") throw err;
      return false;
    }
  }

  /** Drops what has been kept longer than the retention time. */
  async sweep(): Promise<void> {
    const cutoff = this.now() - this.ttlMs;
    for (const [name, at] of this.kept) {
      if (at > cutoff) continue;
      this.kept.delete(name);
      this.mirror.delete(name);
      await fsp.rm(await this.root.resolve(name), { force: true }).catch(() => undefined);
    }
  }
}
