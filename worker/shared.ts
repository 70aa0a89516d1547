/**
 * Waiting on work another request started. Workers give each request its own I/O context, and
 * a promise created in one request never settles for another once its creator has completed or
 * been cancelled (a client that hung up, a `waitUntil` past its limit): the runtime drops the
 * continuations, silently. So every isolate-wide cache or queue of promises (the services, the
 * replication flights, the files write queue) waits with its own timer and treats silence for
 * that long as "that work is gone".
 */

/** True once `p` settled (either way), false if it did not within `ms`. Never throws. */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silence = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true, () => true), silence]);
  } finally {
    clearTimeout(timer);
  }
}
