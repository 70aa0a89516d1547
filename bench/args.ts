/** `npm run bench -- [B1 B2 ...] [--quick] [--seed N] [--size bN.name=V] [--results FILE] [--no-record] [--keep]`. Pure. */
import { parseArgs } from "node:util";
import { FULL, QUICK, withOverrides, type Sizes } from "./sizes.js";

export const BENCH_IDS = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10"] as const;
export type BenchId = (typeof BENCH_IDS)[number];

/**
 * The order benchmarks run in: database first (they need no file sync), then files. B4 → B8 → B7
 * are adjacent because each can start from the synced pair the previous one leaves.
 */
export const RUN_ORDER: readonly BenchId[] = ["B6", "B2", "B3", "B9", "B4", "B8", "B7", "B1", "B10", "B5"];

export const DEFAULT_SEED = 20260501;

export interface BenchArgs {
  ids: BenchId[];
  quick: boolean;
  seed: number;
  sizes: Sizes;
  /** null: do not append to a results file. */
  results: string | null;
  keep: boolean;
  help: boolean;
}

export class ArgsError extends Error {}

export const BENCH_USAGE = `usage: npm run bench -- [IDS...] [options]

Runs scoutsync's benchmarks (DESIGN.md §5) against anchors measured in the same run, prints
figures, ratios and a summary, and appends one record per benchmark to bench/results.json.

  IDS                 B1 ... B10 (default: all), e.g. \`npm run bench -- B2 B4\`
  --quick             small sizes (whole run in about 3 minutes); sizes are printed
  --seed N            workload seed (default ${DEFAULT_SEED})
  --size bN.name=V    override one size, e.g. --size b4.rows=50000 --size b3.sites=2,5
  --results FILE      append records here (default bench/results.json)
  --no-record         print only, append nothing
  --keep              keep the temporary folders (their path is printed)
  -h, --help          this text`;

export function parseBenchArgs(argv: readonly string[], defaultResults: string): BenchArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        quick: { type: "boolean" },
        seed: { type: "string" },
        size: { type: "string", multiple: true },
        results: { type: "string" },
        "no-record": { type: "boolean" },
        keep: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    throw new ArgsError((err as Error).message.split("\n")[0] ?? String(err));
  }
  const { values, positionals } = parsed;
  const ids: BenchId[] = [];
  for (const p of positionals) {
    const id = p.toUpperCase();
    if (!(BENCH_IDS as readonly string[]).includes(id)) throw new ArgsError(`unknown benchmark ${JSON.stringify(p)}; pick from ${BENCH_IDS.join(", ")}`);
    if (!ids.includes(id as BenchId)) ids.push(id as BenchId);
  }
  let seed = DEFAULT_SEED;
  if (values.seed !== undefined) {
    seed = Number(values.seed);
    if (!Number.isSafeInteger(seed)) throw new ArgsError(`--seed ${values.seed}: expected an integer`);
  }
  const quick = values.quick === true;
  let sizes: Sizes;
  try {
    sizes = withOverrides(quick ? QUICK : FULL, values.size ?? []);
  } catch (err) {
    throw new ArgsError((err as Error).message);
  }
  const chosen = ids.length === 0 ? [...RUN_ORDER] : RUN_ORDER.filter((id) => ids.includes(id));
  return {
    ids: chosen,
    quick,
    seed,
    sizes,
    results: values["no-record"] === true ? null : (values.results ?? defaultResults),
    keep: values.keep === true,
    help: values.help === true,
  };
}
