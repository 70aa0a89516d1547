/**
 * Hybrid logical clock and version stamps.
 * A stamp is a fixed-width string: 12 hex digits of wall-clock milliseconds, 4 hex digits of
 * counter, then the 16-hex-digit site id. Plain string comparison orders stamps by time, then
 * counter, then site, so the tie-break is deterministic everywhere and no BigInt is needed.
 */
import { z } from "zod";

export const SITE_ID_RE = /^[0-9a-f]{16}$/;
export const SiteIdSchema = z.string().regex(SITE_ID_RE, "site id must be 16 lowercase hex digits");
export const STAMP_RE = /^[0-9a-f]{32}$/;
export const StampSchema = z.string().regex(STAMP_RE, "stamp must be 32 lowercase hex digits");
export type Stamp = string;

export interface Hlc {
  ms: number;
  counter: number;
}

const MAX_COUNTER = 0xffff;

export const ZERO_HLC: Hlc = { ms: 0, counter: 0 };

/** The next local clock: strictly after `last`, and never behind the wall clock. */
export function tick(last: Hlc, wallMs: number): Hlc {
  if (wallMs > last.ms) return { ms: wallMs, counter: 0 };
  if (last.counter < MAX_COUNTER) return { ms: last.ms, counter: last.counter + 1 };
  return { ms: last.ms + 1, counter: 0 };
}

/** Moves the local clock past a clock seen from elsewhere, so later local edits win over it. */
export function observe(last: Hlc, seen: Hlc): Hlc {
  return compareHlc(seen, last) > 0 ? seen : last;
}

export function compareHlc(a: Hlc, b: Hlc): number {
  return a.ms - b.ms || a.counter - b.counter;
}

export function stamp(hlc: Hlc, site: string): Stamp {
  return hlc.ms.toString(16).padStart(12, "0") + hlc.counter.toString(16).padStart(4, "0") + site;
}

export function stampHlc(s: Stamp): Hlc {
  return { ms: parseInt(s.slice(0, 12), 16), counter: parseInt(s.slice(12, 16), 16) };
}

export function stampSite(s: Stamp): string {
  return s.slice(16);
}

/** Larger of two optional stamps. */
export function maxStamp(a: Stamp | null | undefined, b: Stamp | null | undefined): Stamp | null {
  if (a == null) return b ?? null;
  if (b == null) return a;
  return a >= b ? a : b;
}

/** Compact text of a clock for logs and pings: "ms.counter". */
export function formatHlc(h: Hlc): string {
  return `${h.ms}.${h.counter}`;
}

export function parseHlc(text: string | null | undefined): Hlc {
  if (!text) return ZERO_HLC;
  const [ms, counter] = text.split(".");
  return { ms: Number(ms) || 0, counter: Number(counter) || 0 };
}
