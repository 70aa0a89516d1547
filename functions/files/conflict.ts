// Names of the copies that keep the loser of a concurrent edit, as Syncthing names them:
// dir/name.sync-conflict-YYYYMMDD-HHMMSS-<site>.ext
import {
  MAX_PATH_BYTES,
  MAX_SEGMENT_BYTES,
  baseName,
  checkSyncPath,
  joinSyncPath,
  parentDir,
  utf8ByteLength,
} from "./path.js";

const INFIX = ".sync-conflict-";
const SITE_RE = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const CONFLICT_RE = /^(.+)\.sync-conflict-(\d{8})-(\d{6})-([A-Za-z0-9_-]{1,32})(\.[^.]*)?$/s;

const pad = (n: number, w = 2): string => String(n).padStart(w, "0");

function stampOf(whenMs: number): string {
  const d = new Date(whenMs);
  return (
    `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-` +
    `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`
  );
}

/** Splits off the last extension; a leading dot belongs to the name (".syncignore" has none). */
function splitExt(name: string): { stem: string; ext: string } {
  const i = name.lastIndexOf(".");
  return i > 0 ? { stem: name.slice(0, i), ext: name.slice(i) } : { stem: name, ext: "" };
}

function truncateUtf8(s: string, maxBytes: number): string {
  let out = "";
  let used = 0;
  for (const ch of s) {
    const b = utf8ByteLength(ch);
    if (used + b > maxBytes) break;
    out += ch;
    used += b;
  }
  return out;
}

/**
 * Path for the conflict copy of `path`. Every site must derive the same name for the same
 * conflict, so pass the losing version's own HLC wall time and origin site, never "now" or the
 * local site. Times are UTC. The stem is shortened if needed so that the result stays within the
 * path limits (then the original name cannot be recovered exactly). Throws on invalid input.
 */
export function conflictName(path: string, whenMs: number, siteShortId: string): string {
  const checked = checkSyncPath(path);
  if (!checked.ok) throw new RangeError(`invalid path: ${checked.reason}`);
  if (!Number.isFinite(whenMs) || whenMs < 0 || whenMs > MAX_MS) {
    throw new RangeError(`conflict time out of range: ${whenMs}`);
  }
  if (!SITE_RE.test(siteShortId)) {
    throw new RangeError("site short id must be 1-32 characters of [A-Za-z0-9_-]");
  }
  const dir = parentDir(checked.path);
  const infix = `${INFIX}${stampOf(Math.floor(whenMs))}-${siteShortId}`;
  let { stem, ext } = splitExt(baseName(checked.path));
  const room = (): number =>
    Math.min(MAX_SEGMENT_BYTES, MAX_PATH_BYTES - (dir ? utf8ByteLength(dir) + 1 : 0)) -
    utf8ByteLength(infix) -
    utf8ByteLength(ext);
  if (room() < 1 && ext) {
    stem += ext;
    ext = "";
  }
  stem = truncateUtf8(stem, room());
  if (stem === "") throw new RangeError("path too long to make a conflict copy beside it");
  return joinSyncPath(dir, stem + infix + ext);
}

export interface ConflictCopyInfo {
  /** The path the copy was made for (best effort if its stem was shortened). */
  original: string;
  whenMs: number;
  site: string;
}

/** Reads a conflict copy's name back, or null if `path` is not one. */
export function parseConflictName(path: string): ConflictCopyInfo | null {
  const m = CONFLICT_RE.exec(baseName(path));
  if (!m) return null;
  const [, stem = "", ymd = "", hms = "", site = "", ext = ""] = m;
  const num = (s: string, a: number, b: number): number => Number(s.slice(a, b));
  const whenMs = Date.UTC(
    num(ymd, 0, 4), num(ymd, 4, 6) - 1, num(ymd, 6, 8),
    num(hms, 0, 2), num(hms, 2, 4), num(hms, 4, 6),
  );
  // Rejects impossible stamps such as month 13, which Date.UTC would silently roll over.
  if (Number.isNaN(whenMs) || whenMs < 0 || stampOf(whenMs) !== `${ymd}-${hms}`) return null;
  const dir = parentDir(path);
  return { original: dir ? `${dir}/${stem}${ext}` : stem + ext, whenMs, site };
}

export function isConflictCopy(path: string): boolean {
  return parseConflictName(path) !== null;
}
