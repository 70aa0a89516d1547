/**
 * V8 flags for workerd. Miniflare builds workerd's configuration (a Cap'n Proto message sent on
 * workerd's stdin) with no way to set its `v8Flags` list, so we add that list to the message it
 * sends. The worker needs `--expose-gc`: workerd keeps a heap grown by a burst of sync work for
 * as long as the site then idles (worker/memory.ts).
 *
 * The edit is small and checked: the message is the standard stream framing, the root is the
 * `Config` struct, and its `v8Flags` pointer must still be empty. The list goes in a new segment,
 * reached by a far pointer, so no byte of Miniflare's segments moves.
 */

/** `v8Flags` is the third pointer field of workerd's `Config` (services @0, sockets @1, v8Flags @2). */
const V8_FLAGS_SLOT = 2;

const WORD = 8;

/** Byte length of the framing header for `segments` segments: a count, the sizes, padded to a word. */
function headerBytes(segments: number): number {
  return 4 * (1 + segments) + (segments % 2 === 0 ? 4 : 0);
}

function listPointer(offsetWords: number, elementSize: bigint, count: number): bigint {
  return 1n | (BigInt(offsetWords) << 2n) | (elementSize << 32n) | (BigInt(count) << 35n);
}

/** Elements of a list pointer's `elementSize`: a byte (text), a pointer (a list of texts). */
const BYTE = 2n;
const POINTER = 6n;

/** One segment holding a landing pad, then a List(Text) of `texts`. */
function textListSegment(texts: readonly string[]): Uint8Array {
  const encoded = texts.map((t) => new TextEncoder().encode(`${t}\0`));
  const textWords = encoded.map((e) => Math.ceil(e.length / WORD));
  const words = 1 + texts.length + textWords.reduce((a, n) => a + n, 0);
  const out = new Uint8Array(words * WORD);
  const view = new DataView(out.buffer);
  // The landing pad: the list starts right after it.
  view.setBigUint64(0, listPointer(0, POINTER, texts.length), true);
  let at = 1 + texts.length;
  encoded.forEach((bytes, i) => {
    const pointerWord = 1 + i;
    view.setBigUint64(pointerWord * WORD, listPointer(at - (pointerWord + 1), BYTE, bytes.length), true);
    out.set(bytes, at * WORD);
    at += textWords[i] ?? 0;
  });
  return out;
}

/** `config` (a framed workerd Config message) with `flags` as its v8Flags. */
export function withV8Flags(config: Uint8Array, flags: readonly string[]): Uint8Array {
  if (flags.length === 0) return config;
  const view = new DataView(config.buffer, config.byteOffset, config.byteLength);
  const segments = view.getUint32(0, true) + 1;
  const first = headerBytes(segments);
  const root = view.getBigUint64(first, true);
  if ((root & 3n) !== 0n) throw new Error("workerd config: the root is not a struct");
  const offset = Number(BigInt.asIntN(30, (root >> 2n) & 0x3fffffffn));
  const dataWords = Number((root >> 32n) & 0xffffn);
  const pointerWords = Number((root >> 48n) & 0xffffn);
  if (pointerWords <= V8_FLAGS_SLOT) throw new Error("workerd config: the root struct has no v8Flags field");
  const slot = first + WORD * (1 + offset + dataWords + V8_FLAGS_SLOT);
  if (view.getBigUint64(slot, true) !== 0n) throw new Error("workerd config: v8Flags is already set");

  const added = textListSegment(flags);
  const header = new Uint8Array(headerBytes(segments + 1));
  const headerView = new DataView(header.buffer);
  headerView.setUint32(0, segments, true);
  for (let i = 0; i < segments; i++) headerView.setUint32(4 * (1 + i), view.getUint32(4 * (1 + i), true), true);
  headerView.setUint32(4 * (1 + segments), added.length / WORD, true);

  const out = new Uint8Array(header.length + config.length - first + added.length);
  out.set(header, 0);
  out.set(config.subarray(first), header.length);
  out.set(added, header.length + config.length - first);
  // A far pointer to the landing pad, word 0 of the new segment.
  new DataView(out.buffer).setBigUint64(slot - first + header.length, 2n | (BigInt(segments) << 32n), true);
  return out;
}
