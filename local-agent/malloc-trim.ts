/**
 * glibc's `malloc_trim(0)`: hands the free pages in the middle of malloc's arenas back to the
 * system. glibc returns freed memory only from the top of an arena, so after a burst a child kept
 * what native code had freed below its live allocations for as long as it lived: SQLite's page
 * caches and libsql's row buffers left an idle db child at 105–150 MB, of which `malloc_trim`
 * (called from a debugger) gave 37–60 MB back; an agent's socket and hashing buffers likewise (B7).
 * Node cannot call it itself, so it goes through koffi (an FFI whose binaries come as optional
 * packages). Elsewhere (not glibc, no koffi build for the platform) it does nothing.
 */
import { createRequire } from "node:module";

type Trim = (pad: number) => number;

function load(): Trim | null {
  if (process.platform !== "linux") return null;
  try {
    const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi");
    return koffi.load("libc.so.6").func("int malloc_trim(size_t pad)") as Trim;
  } catch {
    return null;
  }
}

let loaded: Trim | null | undefined;

/** Trims; false where it cannot (then it did nothing). */
export function mallocTrim(): boolean {
  if (loaded === undefined) loaded = load();
  if (loaded === null) return false;
  loaded(0);
  return true;
}
