/**
 * The startup scan (DESIGN.md §2: changes made while the agent was stopped). Walks the instance
 * folder without following links, skipping excluded paths and whole excluded folders, and
 * returns the files and folders it found; the caller compares size and mtime with what the manifest last saw and
 * hashes only what differs. Leftover temp files of the materializer are removed once old.
 */
import { promises as fsp, type Dirent, type Stats } from "node:fs";
import path from "node:path";
import { isTempName, type IgnoreMatcher } from "../../functions/files/ignore.js";
import { checkSyncPath } from "../../functions/files/path.js";
import { isMissing, lstatOrNull, type InstanceRoot } from "./safe-fs.js";

/** A temp file this old belongs to no transfer still running (they resume within minutes). */
const STALE_TEMP_MS = 24 * 3600_000;

export interface ScanResult {
  files: Map<string, Stats>;
  /** Folders that sync (not excluded), empty or not. */
  dirs: Set<string>;
  /** Names refused by the path rule (shown once in the log). */
  refused: { path: string; reason: string }[];
}

export async function scanFolder(root: InstanceRoot, matcher: IgnoreMatcher, now = Date.now()): Promise<ScanResult> {
  const files = new Map<string, Stats>();
  const dirs = new Set<string>();
  const refused: { path: string; reason: string }[] = [];
  const walk = async (dirAbs: string, dirRel: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(dirAbs, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for (const e of entries) {
      const raw = dirRel === "" ? e.name : `${dirRel}/${e.name}`;
      const abs = path.join(dirAbs, e.name);
      if (e.isFile() && isTempName(raw)) {
        await removeIfStale(abs, now);
        continue;
      }
      const checked = checkSyncPath(raw);
      if (!checked.ok) {
        refused.push({ path: raw, reason: checked.reason });
        continue;
      }
      const rel = checked.path;
      if (e.isDirectory()) {
        if (matcher.ignores(rel, true)) continue;
        dirs.add(rel);
        await walk(abs, rel);
      } else if (e.isFile()) {
        if (matcher.ignores(rel)) continue;
        const st = lstatOrNull(abs);
        if (st !== null) files.set(rel, st);
      } else if (!matcher.ignores(rel)) {
        refused.push({ path: rel, reason: e.isSymbolicLink() ? "symbolic link (never followed)" : "not a regular file" });
      }
    }
  };
  await walk(root.dir, "");
  return { files, dirs, refused };
}

async function removeIfStale(abs: string, now: number): Promise<void> {
  try {
    const st = await fsp.lstat(abs);
    if (now - st.mtimeMs > STALE_TEMP_MS) await fsp.rm(abs, { force: true });
  } catch {
    // Gone already.
  }
}
