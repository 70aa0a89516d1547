/**
 * Version vectors for file entries (Syncthing's protocol/vector.go): one counter per site that
 * wrote the path. Comparing two tells whether one version saw the other (then it simply wins)
 * or whether they were written concurrently (then the merge rules decide).
 */
export type VersionVector = Readonly<Record<string, number>>;

export type VvOrder = "equal" | "greater" | "lesser" | "concurrent";

/** How `a` relates to `b`: greater = a has seen everything b has, and more. */
export function compareVv(a: VersionVector, b: VersionVector): VvOrder {
  let aAhead = false;
  let bAhead = false;
  for (const site of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[site] ?? 0;
    const y = b[site] ?? 0;
    if (x > y) aAhead = true;
    else if (y > x) bAhead = true;
  }
  if (aAhead && bAhead) return "concurrent";
  if (aAhead) return "greater";
  if (bAhead) return "lesser";
  return "equal";
}

/** Pointwise maximum: the history of both. Keys sorted, so equal vectors print equally. */
export function joinVv(a: VersionVector, b: VersionVector): VersionVector {
  const out: Record<string, number> = {};
  for (const site of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const n = Math.max(a[site] ?? 0, b[site] ?? 0);
    if (n > 0) out[site] = n;
  }
  return out;
}

/** The vector of a new local version written on top of `v`. */
export function bumpVv(v: VersionVector, site: string): VersionVector {
  return joinVv(v, { [site]: (v[site] ?? 0) + 1 });
}

/** Canonical JSON (sorted keys, no zero counters), as stored: equal vectors give equal text. */
export function vvToJson(v: VersionVector): string {
  return JSON.stringify(joinVv(v, {}));
}

export function vvFromJson(text: string): VersionVector {
  const parsed: unknown = JSON.parse(text);
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new TypeError("version vector must be a JSON object");
  const out: Record<string, number> = {};
  for (const [site, n] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw new TypeError(`version vector counter for ${site} is not a count`);
    out[site] = n;
  }
  return joinVv(out, {});
}
