// Which paths never sync. Only parses text: the agent reads instance/.syncignore and passes it in.
import ignore from "ignore";
import { checkSyncPath, parentDir, joinSyncPath } from "./path.js";

export const SYNCIGNORE_PATH = ".syncignore";
export const STATE_DIR = ".scoutsync";
export const TEMP_PREFIX = ".scoutsync-tmp-";

/**
 * Always excluded, whatever .syncignore says. Matched against every path segment (as gitignore
 * does for patterns without a slash, so a matching directory excludes its whole content) and
 * case-insensitively, since `App.DB` on Windows is still a database.
 */
export const BUILTIN_PATTERNS: readonly string[] = [
  // databases: synced row by row, never as files
  "*.db", "*.db-wal", "*.db-shm", "*.db-journal", "*-journal",
  "*.sqlite", "*.sqlite3", "*.sqlite-*", "*.sqlite3-*", "*.sqlite*",
  "*.log",
  // editor and OS temporary or metadata files
  "*.swp", "*.swo", "*~", ".#*", "#*#", "~$*", ".~lock.*#",
  ".DS_Store", "._*", "Thumbs.db", "desktop.ini",
  // the materializer's own temp files
  `${TEMP_PREFIX}*`,
];

function globToRegExp(glob: string): RegExp {
  const body = glob
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}$`, "i");
}

const BUILTIN_RES: readonly (readonly [string, RegExp])[] = BUILTIN_PATTERNS.map(
  (g) => [g, globToRegExp(g)] as const,
);

function builtinReason(path: string): string | null {
  const segs = path.split("/");
  if (segs[0]?.toLowerCase() === STATE_DIR) return `built-in: ${STATE_DIR}/`;
  for (const seg of segs) {
    for (const [glob, re] of BUILTIN_RES) if (re.test(seg)) return `built-in: ${glob}`;
  }
  return null;
}

/**
 * Name of the temp file the materializer writes before renaming it over `path`: same folder (so
 * the rename is atomic), always ignored (so the watcher never syncs it). `token` is the caller's
 * randomness (this module has none): 1-64 chars of [A-Za-z0-9_-].
 * A startup sweep may delete any leftover segment starting with TEMP_PREFIX.
 */
export function tempNameFor(path: string, token: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(token)) {
    throw new RangeError("temp token must be 1-64 characters of [A-Za-z0-9_-]");
  }
  return joinSyncPath(parentDir(path), TEMP_PREFIX + token);
}

export function isTempName(path: string): boolean {
  return path.slice(path.lastIndexOf("/") + 1).startsWith(TEMP_PREFIX);
}

export interface IgnoreMatcher {
  /** True if `path` must not sync. `isDir` lets directory patterns (`build/`) match the folder itself. */
  ignores(path: string, isDir?: boolean): boolean;
  /** Why `path` is ignored ("built-in: *.db", ".syncignore: build/", "invalid path: …"), or null. */
  reason(path: string, isDir?: boolean): string | null;
  /** .syncignore lines the parser refused (1-based line numbers), to show on the dashboard. */
  readonly errors: readonly { line: number; pattern: string; message: string }[];
}

/**
 * Builds the matcher from the text of instance/.syncignore (null = no file). User patterns use
 * gitignore syntax relative to the instance root and match case-insensitively, so every site
 * decides the same way whatever its file system. Built-ins are checked first and cannot be
 * negated; the root .syncignore itself always syncs.
 */
export function createIgnoreMatcher(syncignoreText: string | null): IgnoreMatcher {
  const user = ignore({ ignorecase: true });
  const errors: { line: number; pattern: string; message: string }[] = [];
  const lines = (syncignoreText ?? "").replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((pattern, i) => {
    try {
      // The package compiles lazily; testing the line alone first keeps a bad line from
      // throwing later inside ignores().
      ignore({ ignorecase: true }).add(pattern).test("x");
      user.add(pattern);
    } catch (e) {
      errors.push({ line: i + 1, pattern, message: e instanceof Error ? e.message : String(e) });
    }
  });

  function reason(path: string, isDir = false): string | null {
    const r = checkSyncPath(path);
    if (!r.ok) return `invalid path: ${r.reason}`;
    const builtin = builtinReason(r.path);
    if (builtin) return builtin;
    if (r.path === SYNCIGNORE_PATH) return null;
    const t = user.test(isDir ? `${r.path}/` : r.path);
    return t.ignored && t.rule ? `${SYNCIGNORE_PATH}: ${t.rule.pattern}` : null;
  }

  return {
    reason,
    ignores: (path, isDir) => reason(path, isDir) !== null,
    errors,
  };
}
