/**
 * Reads of our row pages for several peers in one transaction. A captured change is pushed to
 * every peer at once, and each push reads the page after that peer's checkpoint: in a full mesh
 * of 10, nine read transactions of four requests each for one row the app wrote (B3). Reads asked
 * for in the same turn of the event loop (the pushes one capture starts) share one transaction,
 * each with its own skips. A turn runs for one request only, so a shared read never outlives the
 * request that waits for it (worker/shared.ts).
 */
import type { ChangePage, PageRequest } from "../../functions/db/changes.js";
import { readChangePages } from "../../functions/db/engine.js";
import type { Services } from "../services.js";

interface Waiting {
  req: PageRequest;
  resolve: (page: ChangePage) => void;
  reject: (err: unknown) => void;
}

const thisTurn = new WeakMap<Services, Waiting[]>();

export function readRowPage(s: Services, req: PageRequest): Promise<ChangePage> {
  return new Promise((resolve, reject) => {
    let waiting = thisTurn.get(s);
    if (waiting === undefined) {
      const batch: Waiting[] = [];
      thisTurn.set(s, (waiting = batch));
      queueMicrotask(() => {
        thisTurn.delete(s);
        readChangePages(s.appDb, s.engine, batch.map((w) => w.req)).then(
          (pages) => batch.forEach((w, i) => w.resolve(pages[i]!)),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        );
      });
    }
    waiting.push({ req, resolve, reject });
  });
}
