/**
 * The ignore matcher with its answers remembered per path: every event, upload and write asks
 * it, and for a burst of files the path rule, the built-in globs and the .syncignore rules were
 * a measurable share of the agent's CPU. A new .syncignore makes a new matcher (and memo).
 */
import type { IgnoreMatcher } from "../../functions/files/ignore.js";

const MAX_ENTRIES = 100_000;

export function memoMatcher(m: IgnoreMatcher): IgnoreMatcher {
  const memo = new Map<string, string | null>();
  const reason = (path: string, isDir = false): string | null => {
    const key = isDir ? `d${path}` : `f${path}`;
    let r = memo.get(key);
    if (r === undefined) {
      r = m.reason(path, isDir);
      if (memo.size >= MAX_ENTRIES) memo.clear();
      memo.set(key, r);
    }
    return r;
  };
  return { reason, ignores: (path, isDir) => reason(path, isDir) !== null, errors: m.errors };
}
