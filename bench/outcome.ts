/** What one benchmark hands back: figures, anchors, ratios, a verdict, and one line for the summary. */
import type { BenchId } from "./args.js";

export type Figure = number | string | boolean | null | Figure[] | { [k: string]: Figure };

export interface Outcome {
  id: BenchId;
  title: string;
  /** ok: measured; skipped: could not run here (reason says why); failed: it ran and broke. */
  status: "ok" | "skipped" | "failed";
  reason?: string;
  sizes: Record<string, Figure>;
  figures: Record<string, Figure>;
  anchors: Record<string, Figure>;
  /** measured ÷ anchor, each named for what it compares. */
  ratios: Record<string, number>;
  target: string;
  /** null when not judged (skipped, failed, or no figure to judge). */
  pass: boolean | null;
  /** For the summary table. */
  headline: { figure: string; anchor: string; ratio: string };
  notes: string[];
}

export function skipped(id: BenchId, title: string, target: string, reason: string, sizes: Record<string, Figure> = {}): Outcome {
  return { id, title, status: "skipped", reason, sizes, figures: {}, anchors: {}, ratios: {}, target, pass: null, headline: { figure: reason, anchor: "", ratio: "" }, notes: [] };
}

export function failed(id: BenchId, title: string, target: string, err: unknown, sizes: Record<string, Figure> = {}): Outcome {
  const reason = err instanceof Error ? err.message : String(err);
  return { id, title, status: "failed", reason, sizes, figures: {}, anchors: {}, ratios: {}, target, pass: null, headline: { figure: `failed: ${reason.split("\n")[0]}`, anchor: "", ratio: "" }, notes: [] };
}

/** Ratios with NaN turned into null for JSON. */
export function jsonRatios(r: Record<string, number>): Record<string, number | null> {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number.isFinite(v) ? Math.round(v * 10_000) / 10_000 : null]));
}
