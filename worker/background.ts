import type { Context } from "hono";

/** Work that continues after the response (waitUntil on Workers); errors are logged, never thrown. */
export function background(c: Context, work: Promise<unknown>): void {
  const guarded = work.catch((err: unknown) => console.error(`background: ${err instanceof Error ? err.message : String(err)}`));
  try {
    c.executionCtx.waitUntil(guarded);
  } catch {
    // No execution context (app.request in tests): the promise still runs to completion.
  }
}
