/**
 * The folder rule (functions/files/folders.ts) applied to a batch about to be written: which
 * deleted folders still hold live entries once the batch is in, and so come back as new versions
 * of this site. The caller writes them beside the batch, in the same transaction.
 */
import type { Stamp } from "../../functions/clock/hlc.js";
import { foldersToCheck, isInside, mustRevive, revivedFolder } from "../../functions/files/folders.js";
import type { FileVersion } from "../../functions/files/version.js";
import { liveInside, type Reader } from "./store.js";

export interface RevivalContext {
  tx: Reader;
  /** The versions of these paths before the batch (absent: none), read in one go (the caller caches). */
  lookup(paths: readonly string[]): Promise<Map<string, FileVersion>>;
  site: string;
  nextStamp(): Stamp;
}

/** Versions reviving folders left deleted over live content by `writes` (path → final version). */
export async function folderRevivals(ctx: RevivalContext, writes: ReadonlyMap<string, FileVersion>): Promise<FileVersion[]> {
  const state = new Map(writes);
  const out: FileVersion[] = [];
  const live = async (dir: string): Promise<boolean> => {
    let deletedHere = 0;
    for (const [p, v] of state) {
      if (!isInside(p, dir)) continue;
      if (!v.deleted) return true;
      deletedHere++;
    }
    // Entries this batch deletes may still be live in the table: ask for one more than those.
    const rows = await liveInside(ctx.tx, dir, deletedHere + 1);
    return rows.some((p) => state.get(p)?.deleted !== true);
  };
  const checked = new Set<string>();
  for (let todo = foldersToCheck(state.values()); todo.length > 0; ) {
    const revived: FileVersion[] = [];
    const before = await ctx.lookup(todo.filter((d) => !state.has(d)));
    for (const dir of todo) {
      if (checked.has(dir)) continue;
      checked.add(dir);
      const current = state.get(dir) ?? before.get(dir) ?? null;
      // Only a deleted folder costs the query for what is inside.
      if (!current?.deleted || !mustRevive(current, await live(dir))) continue;
      const v = revivedFolder(current, ctx.site, ctx.nextStamp());
      state.set(dir, v);
      revived.push(v);
    }
    out.push(...revived);
    // A revived folder is live content of the folders above it (those checked already saw it: deepest go first).
    todo = foldersToCheck(revived).filter((d) => !checked.has(d));
  }
  return out;
}
