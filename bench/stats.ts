/** Summaries and number formatting for the benchmark output. Pure. */

/** A type, not an interface: it must fit the JSON record's index-signature types. */
export type Latency = {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
};

/**
 * Nearest-rank percentile: the smallest sample with at least p % of the samples at or below it.
 * With 50 samples p99 is the largest one, which is what "p99 of 50" can honestly mean.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside 0..100`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function latency(samples: readonly number[]): Latency {
  if (samples.length === 0) return { n: 0, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, min: Number.NaN, max: Number.NaN, mean: Number.NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
  return {
    n: sorted.length,
    p50: round(at(50), 2),
    p90: round(at(90), 2),
    p99: round(at(99), 2),
    min: round(sorted[0]!, 2),
    max: round(sorted.at(-1)!, 2),
    mean: round(sorted.reduce((s, x) => s + x, 0) / sorted.length, 2),
  };
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

export function round(x: number, digits = 0): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** measured ÷ anchor; NaN when either is missing or the anchor is zero. */
export function ratio(measured: number, anchor: number): number {
  if (!Number.isFinite(measured) || !Number.isFinite(anchor) || anchor === 0) return Number.NaN;
  return measured / anchor;
}

/** "0.031×", "1.42×", "12.3×", "1,234×"; "n/a" when there is no ratio. */
export function formatRatio(r: number): string {
  if (!Number.isFinite(r)) return "n/a";
  if (r >= 100) return `${Math.round(r).toLocaleString("en-US")}×`;
  if (r >= 10) return `${r.toFixed(1)}×`;
  if (r >= 0.1) return `${r.toFixed(2)}×`;
  return `${r.toPrecision(2)}×`;
}

/** Milliseconds for people: "0.42 ms", "12.3 ms", "850 ms", "8.52 s". */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "n/a";
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  if (ms >= 1) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** A count or rate with thousands separators and at most `digits` decimals. */
export function formatNumber(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return "n/a";
  return x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function formatLatency(l: Latency): string {
  return `p50 ${formatMs(l.p50)}, p90 ${formatMs(l.p90)}, p99 ${formatMs(l.p99)} (n=${l.n}, max ${formatMs(l.max)})`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** A plain text table: first row is the header, columns padded to their widest cell. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => cell + " ".repeat((widths[i] ?? 0) - [...cell].length))
      .join("  ")
      .trimEnd();
  const out = rows.map(line);
  if (out.length > 1) out.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  return out.join("\n");
}
