/**
 * How big each benchmark is. The defaults are DESIGN.md §5's; `--quick` shrinks everything so
 * the whole run fits in about three minutes; `--size b4.rows=50000` overrides one figure.
 * Every benchmark prints the sizes it ran with, so a quick figure is never mistaken for a full one.
 */
export interface Sizes {
  /** File latency: samples of a 1 KiB file, and Syncthing's samples (its default 10 s watcher delay makes each ~9 s). */
  b1: { samples: number; bytes: number; syncthingSamples: number; syncthingDefaultSamples: number };
  b2: { samples: number; anchorSamples: number };
  b3: { sites: number[]; samples: number };
  /** Scouting entries (plus their teams, matches and pit notes). */
  b4: { rows: number };
  b5: { mibFiles: number; bigMiB: number; smallFiles: number };
  /** Rows inserted then updated in one transaction each; `commitRows` more as one commit per statement. */
  b6: { rows: number; commitRows: number; reps: number };
  /** Files and entries the idle pair holds (B8's pair is reused, with whatever rows it then has). */
  b7: { files: number; rows: number; seconds: number };
  /** Baseline entries B holds before it goes offline (B4's pair is reused when it has the same size). */
  b8: { changes: number; baseline: number };
  b9: { bigRows: number; smallRows: number; samples: number };
  b10: { samples: number; syncthingSamples: number };
}

export const FULL: Sizes = {
  b1: { samples: 50, bytes: 1024, syncthingSamples: 50, syncthingDefaultSamples: 20 },
  b2: { samples: 100, anchorSamples: 1000 },
  b3: { sites: [2, 5, 10], samples: 30 },
  b4: { rows: 100_000 },
  b5: { mibFiles: 200, bigMiB: 256, smallFiles: 2000 },
  b6: { rows: 100_000, commitRows: 2000, reps: 3 },
  b7: { files: 10_000, rows: 100_000, seconds: 60 },
  b8: { changes: 50_000, baseline: 100_000 },
  b9: { bigRows: 1_000_000, smallRows: 1000, samples: 50 },
  b10: { samples: 20, syncthingSamples: 5 },
};

export const QUICK: Sizes = {
  b1: { samples: 15, bytes: 1024, syncthingSamples: 4, syncthingDefaultSamples: 1 },
  b2: { samples: 30, anchorSamples: 300 },
  b3: { sites: [2, 3], samples: 10 },
  b4: { rows: 10_000 },
  b5: { mibFiles: 20, bigMiB: 32, smallFiles: 300 },
  b6: { rows: 10_000, commitRows: 500, reps: 2 },
  b7: { files: 1000, rows: 10_000, seconds: 10 },
  b8: { changes: 5000, baseline: 10_000 },
  b9: { bigRows: 20_000, smallRows: 1000, samples: 15 },
  b10: { samples: 5, syncthingSamples: 2 },
};

export class SizeError extends Error {}

/** A copy of `base` with `b4.rows=50000`-style overrides applied; unknown names are refused. */
export function withOverrides(base: Sizes, overrides: readonly string[]): Sizes {
  const out = structuredClone(base) as unknown as Record<string, Record<string, number | number[]>>;
  for (const o of overrides) {
    const m = /^(b\d+)\.([a-zA-Z]+)=(.+)$/.exec(o.trim());
    if (!m) throw new SizeError(`--size ${o}: expected bN.name=value, e.g. b4.rows=50000`);
    const [, group, key, raw] = m as unknown as [string, string, string, string];
    const slot = out[group.toLowerCase()];
    if (slot === undefined || !(key in slot)) {
      const known = Object.entries(out)
        .flatMap(([g, v]) => Object.keys(v).map((k) => `${g}.${k}`))
        .join(", ");
      throw new SizeError(`--size ${o}: no size named ${group}.${key} (known: ${known})`);
    }
    const numbers = raw.split(",").map((x) => Number(x.replace(/_/g, "")));
    if (numbers.some((n) => !Number.isFinite(n) || n < 0)) throw new SizeError(`--size ${o}: ${raw} is not a non-negative number`);
    if (Array.isArray(slot[key])) slot[key] = numbers;
    else if (numbers.length === 1) slot[key] = numbers[0]!;
    else throw new SizeError(`--size ${o}: ${group}.${key} takes one number`);
  }
  return out as unknown as Sizes;
}
