/**
 * Every disk access of file sync goes through here, so that nothing is ever read or written
 * outside the instance folder (DESIGN.md §2 "Files"): paths pass checkSyncPath, no symlink is
 * followed (a parent that is a link is refused, the file itself is opened with O_NOFOLLOW), and
 * only regular files are read or replaced (no devices, fifos or sockets).
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, promises as fsp, realpathSync, type Stats } from "node:fs";
import path from "node:path";
import { checkSyncPath } from "../../functions/files/path.js";

/** A path this site will not read or write, with the reason shown in status and logs. */
export class PathRefused extends Error {
  constructor(
    readonly syncPath: string,
    reason: string,
  ) {
    super(`${syncPath}: ${reason}`);
    this.name = "PathRefused";
  }
}

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
// Opening a fifo for reading would wait for a writer; non-blocking, it opens at once and is refused below.
const NONBLOCK = constants.O_NONBLOCK ?? 0;

/** lstat without following a link; null when missing (and no Error built for that case). */
export function lstatOrNull(p: string): Stats | null {
  return lstatSync(p, { throwIfNoEntry: false }) ?? null;
}

export function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

export class InstanceRoot {
  private constructor(
    /** The instance folder with symlinks resolved: every real path we touch must start with it. */
    readonly dir: string,
  ) {}

  static async open(dir: string): Promise<InstanceRoot> {
    await fsp.mkdir(dir, { recursive: true });
    return new InstanceRoot(await fsp.realpath(dir));
  }

  /** The absolute path of a sync path (not checked against links: use the methods below). */
  abs(syncPath: string): string {
    const r = checkSyncPath(syncPath);
    if (!r.ok) throw new PathRefused(syncPath, r.reason);
    return path.join(this.dir, ...r.path.split("/"));
  }

  /** The sync path of an absolute path under the root, or null when it is outside or invalid. */
  rel(absPath: string): string | null {
    const rel = path.relative(this.dir, absPath);
    if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) return null;
    const r = checkSyncPath(rel.split(path.sep).join("/"));
    return r.ok ? r.path : null;
  }

  /**
   * Checks that every folder on the way to `syncPath` is a real folder inside the root (no
   * symlink, no file in the way), creating missing ones when `create` is set. Returns the
   * absolute path of the parent folder.
   */
  async parentOf(syncPath: string, create: boolean): Promise<string> {
    const target = this.abs(syncPath);
    // Fast path, one call: a real path equal to the written one has no link anywhere on the way.
    const lexical = path.dirname(target);
    if (this.realOrNull(lexical) === lexical) return lexical;
    const segs = path.relative(this.dir, target).split(path.sep).slice(0, -1);
    let dir = this.dir;
    for (const seg of segs) {
      dir = path.join(dir, seg);
      let st: Stats | null = null;
      try {
        st = await fsp.lstat(dir);
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
      if (st === null) {
        if (!create) throw Object.assign(new Error(`${dir} does not exist`), { code: "ENOENT" });
        try {
          await fsp.mkdir(dir);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        }
        st = await fsp.lstat(dir);
      }
      if (st.isSymbolicLink()) throw new PathRefused(syncPath, `folder ${path.relative(this.dir, dir)} is a symbolic link; scoutsync never follows links`);
      if (!st.isDirectory()) throw new PathRefused(syncPath, `${path.relative(this.dir, dir)} is a file, not a folder`);
    }
    // A folder swapped for a link between the checks above would show here.
    const real = await fsp.realpath(dir);
    if (real !== this.dir && !real.startsWith(this.dir + path.sep)) throw new PathRefused(syncPath, "resolves outside the instance folder");
    return real;
  }

  /** The absolute path of `syncPath` after checking the folders on the way (see parentOf). */
  async resolve(syncPath: string, create = false): Promise<string> {
    const parent = await this.parentOf(syncPath, create);
    return path.join(parent, path.basename(this.abs(syncPath)));
  }

  /**
   * Opens a regular file for reading without following links; null when it is not there. The
   * caller owns the descriptor (closeSync it). Open and fstat are synchronous, as in realOrNull.
   */
  async openRead(syncPath: string): Promise<{ fd: number; stat: Stats } | null> {
    let parent: string;
    try {
      parent = await this.parentOf(syncPath, false);
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    let fd: number;
    try {
      fd = openSync(path.join(parent, path.basename(this.abs(syncPath))), constants.O_RDONLY | NOFOLLOW | NONBLOCK);
    } catch (err) {
      if (isMissing(err)) return null;
      if ((err as NodeJS.ErrnoException).code === "ELOOP") throw new PathRefused(syncPath, "is a symbolic link; scoutsync never follows links");
      throw err;
    }
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      closeSync(fd);
      throw new PathRefused(syncPath, "is not a regular file (device, fifo, socket or folder)");
    }
    return { fd, stat };
  }

  /** lstat of a sync path; null when missing. Refuses a path through a linked folder. */
  async lstat(syncPath: string): Promise<Stats | null> {
    try {
      return lstatOrNull(await this.resolve(syncPath));
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  /**
   * Metadata calls on the hot path are synchronous: on a local disk they take microseconds, while
   * the async form costs a thread-pool round trip and, for a missing file, an Error with a stack
   * (measured: most of the agent's CPU in a 1,000-file burst). Reads, writes and fsync stay async.
   */
  private realOrNull(p: string): string | null {
    try {
      return realpathSync.native(p);
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }
}

/**
 * Whether the file system under `dir` folds case (macOS, Windows): then "Notes.txt" and
 * "notes.txt" are one file, and a receiver must refuse the second instead of overwriting.
 */
export async function foldsCase(dir: string): Promise<boolean> {
  const name = `.scoutsync-tmp-CaseProbe-${process.pid}`;
  const probe = path.join(dir, name);
  await fsp.writeFile(probe, "");
  try {
    await fsp.stat(path.join(dir, name.toLowerCase()));
    return true;
  } catch {
    return false;
  } finally {
    await fsp.rm(probe, { force: true });
  }
}
