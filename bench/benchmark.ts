/** The shape every benchmark case has, and small helpers the cases share. */
import type { BenchId } from "./args.js";
import type { BenchContext } from "./context.js";
import type { Outcome } from "./outcome.js";
import type { Samples } from "./probes.js";
import { formatLatency, formatMs, latency, type Latency } from "./stats.js";

export interface Benchmark {
  id: BenchId;
  title: string;
  target: string;
  run(ctx: BenchContext): Promise<Outcome>;
}

/** A latency summary for the JSON record (timeouts included) and its printed form. */
export function latencyFigure(s: Samples): { summary: Latency & { timeouts: number; app_write_ms: Latency | null }; text: string } {
  const l = latency(s.ms);
  const w = s.writeMs && s.writeMs.length ? latency(s.writeMs) : undefined;
  const slowWrite = w !== undefined && w.max >= 5 ? `; the app's INSERT itself took p50 ${formatMs(w.p50)}, max ${formatMs(w.max)}` : "";
  return {
    summary: { ...l, timeouts: s.timeouts, app_write_ms: w ?? null },
    text: `${formatLatency(l)}${s.timeouts ? `, ${s.timeouts} timed out` : ""}${slowWrite}`,
  };
}

/** The usual latency target: p50 and p99 under their bars and nothing lost. */
export function meetsLatency(l: Latency & { timeouts: number }, p50Max: number, p99Max: number): boolean {
  return l.timeouts === 0 && l.n > 0 && l.p50 <= p50Max && l.p99 <= p99Max;
}
