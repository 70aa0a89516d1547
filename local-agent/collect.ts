/**
 * A full collection that hands freed pages back to the system, for a child that is about to idle
 * for a long time after a burst. A regular collection frees the objects but V8 keeps their pages
 * committed. `gc` exists only where the launcher passed --expose-gc (launcher.ts); elsewhere this
 * does nothing.
 */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: (options: object) => void }).gc;
  gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
}
