// The one rule every file path from the wire or the disk goes through before it is used.
// Pure: imported by the worker (workerd) as well as the agent, so no Node globals here.
import { z } from "zod";

export type SyncPathResult = { ok: true; path: string } | { ok: false; reason: string };

export const MAX_SEGMENT_BYTES = 255;
export const MAX_PATH_BYTES = 4096;

// NFC can shrink a string (e.g. Hangul jamo 3 units -> 1), so the byte limit is checked after
// normalising; this cap only bounds the work done on absurd input.
const MAX_RAW_LENGTH = MAX_PATH_BYTES * 4;

// C0 controls, DEL and C1 controls (all of Unicode category Cc).
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// Characters Windows cannot store in a name. Refused everywhere so that every site, whatever its
// OS, accepts exactly the same set of paths (otherwise sites could not converge). `:` also
// covers drive letters and NTFS alternate data streams (`file.txt:stream`).
const WINDOWS_FORBIDDEN = /[<>:"|?*]/;
// Windows device names, also with any extension (`con.txt`) and trailing spaces before it
// (`con .txt`), which Win32 maps to the device. Superscript digits are reserved too.
const WINDOWS_DEVICE = /^(con|prn|aux|nul|conin\$|conout\$|com[1-9¹²³]|lpt[1-9¹²³])$/i;

export function utf8ByteLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A surrogate pair is one 4-byte character in two units: 2 bytes each.
    n += c < 0x80 ? 1 : c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 2 : 3;
  }
  return n;
}

/** Printable ASCII: no control characters, nothing to normalise, a byte per character. Most paths are. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function describeChar(ch: string): string {
  return "U+" + (ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");
}

/** The longest Windows device name ("conout$"): a longer stem is none. */
const DEVICE_MAX = 7;

function checkSegment(seg: string, ascii: boolean): string | null {
  if (seg === "") return "empty path segment (\"//\")";
  if (seg === ".") return "\".\" segment";
  if (seg === "..") return "\"..\" segment";
  if (seg.endsWith(".")) return `segment ${JSON.stringify(seg)} ends with a dot`;
  if (seg.endsWith(" ")) return `segment ${JSON.stringify(seg)} ends with a space`;
  const dot = seg.indexOf(".");
  let stemEnd = dot < 0 ? seg.length : dot;
  while (stemEnd > 0 && seg.charCodeAt(stemEnd - 1) === 0x20) stemEnd--;
  if (stemEnd <= DEVICE_MAX && WINDOWS_DEVICE.test(seg.slice(0, stemEnd))) return `segment ${JSON.stringify(seg)} is a Windows device name`;
  if ((ascii ? seg.length : utf8ByteLength(seg)) > MAX_SEGMENT_BYTES) {
    return `segment longer than ${MAX_SEGMENT_BYTES} UTF-8 bytes`;
  }
  return null;
}

/**
 * Returns the canonical relative POSIX form of `p` ("a/b.json"), or why it is refused.
 * Canonical = NFC: macOS reports names in NFD, Linux and Windows usually in NFC, so without
 * normalising the same name typed on two sites would be two different paths.
 */
export function checkSyncPath(p: string): SyncPathResult {
  const no = (reason: string): SyncPathResult => ({ ok: false, reason });
  if (typeof p !== "string") return no("path is not a string");
  if (p === "") return no("empty path");
  if (p.length > MAX_RAW_LENGTH) return no(`path longer than ${MAX_PATH_BYTES} UTF-8 bytes`);
  const ascii = PRINTABLE_ASCII.test(p);
  if (!ascii) {
    if (LONE_SURROGATE.test(p)) return no("invalid UTF-16 (lone surrogate)");
    const ctl = CONTROL.exec(p);
    if (ctl) return no(`control character ${describeChar(ctl[0])}`);
  }
  const path = ascii ? p : p.normalize("NFC");
  if (/^[\\/]{2}/.test(path)) return no("UNC path");
  if (path.startsWith("/") || path.startsWith("\\")) return no("absolute path");
  if (/^[A-Za-z]:/.test(path)) return no("drive letter");
  if (path.includes("\\")) return no("backslash in path (use \"/\")");
  const bad = WINDOWS_FORBIDDEN.exec(path);
  if (bad) return no(`character ${JSON.stringify(bad[0])} is not allowed in file names`);
  if (path.endsWith("/")) return no("trailing slash");
  if ((ascii ? path.length : utf8ByteLength(path)) > MAX_PATH_BYTES) return no(`path longer than ${MAX_PATH_BYTES} UTF-8 bytes`);
  for (const seg of path.split("/")) {
    const why = checkSegment(seg, ascii);
    if (why) return no(why);
  }
  return { ok: true, path };
}

export function isSyncPath(p: string): boolean {
  return checkSyncPath(p).ok;
}

/**
 * Key under which two paths collide on a case-insensitive file system (macOS, Windows).
 * A receiver keeps a map key -> path to spot "Notes.txt" vs "notes.txt" before writing.
 */
export function caseFoldKey(path: string): string {
  // Lowercasing can decompose (U+0130 -> "i" + U+0307), hence NFC again afterwards.
  return path.normalize("NFC").toLowerCase().normalize("NFC");
}

/** "a/b/c.txt" -> "a/b"; "c.txt" -> "" (the root). Expects a canonical path. */
export function parentDir(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

/** "a/b/c.txt" -> "c.txt". Expects a canonical path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Joins canonical pieces ("" = root) and checks the result; throws if it is not a valid path. */
export function joinSyncPath(...parts: string[]): string {
  const joined = parts.filter((s) => s !== "").join("/");
  const r = checkSyncPath(joined);
  if (!r.ok) throw new RangeError(`invalid sync path ${JSON.stringify(joined)}: ${r.reason}`);
  return r.path;
}

/** Wire schema: accepts any string that checkSyncPath accepts and outputs its canonical form. */
export const SyncPath = z.string().transform((s, ctx) => {
  const r = checkSyncPath(s);
  if (!r.ok) {
    ctx.addIssue({ code: "custom", message: `invalid path: ${r.reason}` });
    return z.NEVER;
  }
  return r.path;
});
