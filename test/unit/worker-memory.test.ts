/**
 * Memory an idle site gives back: the worker's rule for "a busy spell is over" (collect once,
 * drop the blob cache), and the V8 flags added to the workerd configuration that make `gc` exist.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { withV8Flags } from "../../local-agent/workerd-config.js";
import { acceptBlob, cachedBlob } from "../../worker/files/blob-cache.js";
import { createApp, WORK_ROUTES } from "../../worker/app.js";
import { SETTLE_MS, noteWork, settle } from "../../worker/memory.js";

const g = globalThis as { gc?: unknown };

async function work(): Promise<void> {
  await noteWork({} as never, async () => undefined);
}

describe("settle", () => {
  afterEach(() => {
    delete g.gc;
  });

  it("collects once, a whole tick after the last work, and drops the blob cache", async () => {
    const gc = vi.fn();
    g.gc = gc;
    // Drain whatever earlier tests left.
    settle(true);
    settle(false);
    gc.mockClear();
    const hash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    expect(await acceptBlob(hash, Buffer.from("hello").toString("base64"))).toBe(true);

    await work();
    expect(settle(false), "work since the last look: the spell goes on, look again soon").toEqual({ settled: false, settleInMs: SETTLE_MS });
    expect(cachedBlob(hash)).toBeDefined();
    expect(settle(true), "a tick that moved something").toEqual({ settled: false, settleInMs: SETTLE_MS });
    expect(gc).not.toHaveBeenCalled();
    expect(settle(false), "no work since the last look").toEqual({ settled: true });
    expect(gc).toHaveBeenCalledTimes(1);
    expect(gc).toHaveBeenCalledWith({ type: "major", execution: "sync", flavor: "last-resort" });
    expect(cachedBlob(hash)).toBeUndefined();
    expect(settle(false), "nothing since: no second collection, no further look").toEqual({ settled: false });
    expect(settle(false)).toEqual({ settled: false });
    expect(gc).toHaveBeenCalledTimes(1);
  });

  it("says false where gc is not exposed (Cloudflare), and still ends the spell", async () => {
    await work();
    settle(false);
    expect(settle(false)).toEqual({ settled: false });
    g.gc = vi.fn();
    expect(settle(false), "the spell was already over").toEqual({ settled: false });
    expect(g.gc).not.toHaveBeenCalled();
  });
});

describe("what counts as work", () => {
  it("the routes that move data do; the agent's polls, status reads and pings do not", async () => {
    const app = createApp();
    const quiet = vi.spyOn(console, "error").mockImplementation(() => undefined);
    settle(true);
    settle(false);
    // No bindings: each request fails after the middleware ran, which is all this looks at.
    for (const path of ["/api/sync/files/pending", "/api/sync/files/local", "/api/sync/files/status", "/api/sync/ping", "/api/admin/status", "/ui/site"]) {
      await app.request(path);
      expect(settle(false), path).toEqual({ settled: false });
    }
    for (const path of WORK_ROUTES) {
      await app.request(path, { method: path.endsWith("changes") || path.endsWith("download") ? "GET" : "POST" });
      expect(settle(false), path).toEqual({ settled: false, settleInMs: SETTLE_MS });
      settle(false);
    }
    quiet.mockRestore();
  });
});

/** Reads the List(Text) behind pointer `slot` of the root struct of a framed message (test-side decoder). */
function readTextList(message: Uint8Array, slot: number): string[] {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const segments = view.getUint32(0, true) + 1;
  const sizes = Array.from({ length: segments }, (_, i) => view.getUint32(4 * (1 + i), true));
  let at = 4 * (1 + segments) + (segments % 2 === 0 ? 4 : 0);
  const starts = sizes.map((words) => {
    const start = at;
    at += words * 8;
    return start;
  });
  expect(at).toBe(message.length);
  const word = (seg: number, index: number) => view.getBigUint64(starts[seg]! + index * 8, true);
  const root = word(0, 0);
  const rootAt = 1 + Number(BigInt.asIntN(30, (root >> 2n) & 0x3fffffffn));
  const far = word(0, rootAt + Number((root >> 32n) & 0xffffn) + slot);
  expect(far & 7n, "a single far pointer").toBe(2n);
  const seg = Number(far >> 32n);
  const pad = Number((far >> 3n) & 0x1fffffffn);
  const list = word(seg, pad);
  expect(list & 3n).toBe(1n);
  expect((list >> 32n) & 7n, "a list of pointers").toBe(6n);
  const first = pad + 1 + Number((list >> 2n) & 0x3fffffffn);
  return Array.from({ length: Number(list >> 35n) }, (_, i) => {
    const p = word(seg, first + i);
    expect((p >> 32n) & 7n, "a list of bytes").toBe(2n);
    const textAt = starts[seg]! + (first + i + 1 + Number((p >> 2n) & 0x3fffffffn)) * 8;
    const bytes = message.subarray(textAt, textAt + Number(p >> 35n));
    expect(bytes.at(-1), "NUL-terminated").toBe(0);
    return new TextDecoder().decode(bytes.subarray(0, -1));
  });
}

/** A one-segment message whose root struct has `dataWords` data words and `pointers` null pointers, after some filler. */
function message(dataWords: number, pointers: number, filler = 3): Uint8Array {
  const words = 1 + filler + dataWords + pointers;
  const out = new Uint8Array(8 + words * 8);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0, true);
  view.setUint32(4, words, true);
  view.setBigUint64(8, (BigInt(filler) << 2n) | (BigInt(dataWords) << 32n) | (BigInt(pointers) << 48n), true);
  for (let i = 0; i < dataWords; i++) view.setBigUint64(8 + (1 + filler + i) * 8, 0xabcdefn, true);
  return out;
}

describe("withV8Flags", () => {
  it("adds the flags as the root's third pointer, in a new segment, leaving every other byte alone", () => {
    const before = message(1, 5);
    const flags = ["--expose-gc", "--max-semi-space-size=1", "é-unicode-and-exactly-8"];
    const after = withV8Flags(before, flags);
    expect(readTextList(after, 2)).toEqual(flags);
    // Two segments now: the header grew by one word, segment 0 is unchanged but for the slot.
    const changed = [...before.subarray(8)].flatMap((b, i) => (after[16 + i] === b ? [] : [i >> 3]));
    expect(new Set(changed)).toEqual(new Set([1 + 3 + 1 + 2]));
    expect(withV8Flags(before, [])).toBe(before);
  });

  it("refuses a message it does not understand instead of guessing", () => {
    expect(() => withV8Flags(message(0, 2), ["--expose-gc"])).toThrow(/no v8Flags field/);
    const set = withV8Flags(message(0, 3), ["--expose-gc"]);
    expect(() => withV8Flags(set, ["--expose-gc"])).toThrow(/already set/);
    const list = message(0, 3);
    list[8] = 1;
    expect(() => withV8Flags(list, ["--expose-gc"])).toThrow(/not a struct/);
  });
});
