/**
 * Convergence of the database engine (DESIGN.md §2, issue 4): 3–5 replicas of one schema, random
 * app writes on each (colliding integer ids, concurrent edits of the same rows, deletes,
 * re-inserts, renumbered rows, children of local parents, upserts of key-identified rows,
 * ALTER TABLE ADD COLUMN on some replicas), interleaved with random sync steps (captures; pages
 * pulled with small limits, delivered twice, dropped, reordered, or stale). Then every replica
 * gets the columns the others added, every link is pulled until nothing moves, and:
 *   - the mesh goes quiet (no loop),
 *   - nothing is left parked,
 *   - every replica holds the same logical content (test/support/logical-dump.ts),
 *   - every replica is locally consistent (identities, foreign keys),
 *   - no row that no one deleted is lost (by a tag written once per insert),
 *   - the later write of a column wins, wherever the model can tell which write was later.
 *
 * Replay: fast-check prints `seed` and `path` of a failure. Run
 *   SCOUTSYNC_SEED=<seed> SCOUTSYNC_PATH=<path> SCOUTSYNC_DEBUG=1 \
 *     npx vitest run test/property/convergence.test.ts -t "<name of the failing test>"
 * to run just that (shrunk) case; SCOUTSYNC_DEBUG prints every replica's tables and
 * _scoutsync_rows. SCOUTSYNC_RUNS sets the number of runs (default 100), SCOUTSYNC_TIME_LIMIT the
 * milliseconds a property may take, shrinking included (default 20000; raise it to shrink a
 * failure further). Stamps come from the wall clock (the capture triggers read it in SQL), so a
 * replay takes the same steps but may break ties between sites differently: a failure that
 * depends on the exact millisecond may need a few replays.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkIntegrity, logicalDump, type LogicalDump } from "../support/logical-dump.js";
import { EXTRA_COLUMNS, Expectation, Network, SCHEMA, addColumn, columnsOf, describeStep, newReplica, runAppOp, siteId, stepArb, type Replica, type Step } from "./model.js";

const SEED = Number(process.env.SCOUTSYNC_SEED ?? 20_260_417);
const RUNS = Number(process.env.SCOUTSYNC_RUNS ?? 100);
const PATH = process.env.SCOUTSYNC_PATH;

interface Scenario {
  n: number;
  /** PRAGMA foreign_keys on every replica (libsql's default is on; Python's sqlite3 is off). */
  foreignKeys: boolean;
  /** Varies the site ids, and so which site wins ties. */
  salt: number;
  steps: Step[];
}

function scenarioArb(parentDeletes: boolean): fc.Arbitrary<Scenario> {
  return fc.integer({ min: 3, max: 5 }).chain((n) =>
    fc.record({
      n: fc.constant(n),
      foreignKeys: fc.boolean(),
      salt: fc.nat(10_000),
      steps: fc.array(stepArb(n, { parentDeletes }), { minLength: 1, maxLength: 60, size: "max" }),
    }),
  );
}

interface Outcome {
  replicas: Replica[];
  net: Network;
  exp: Expectation;
  quiet: boolean;
  dumps: LogicalDump[];
}

async function runScenario(sc: Scenario): Promise<Outcome> {
  const replicas = Array.from({ length: sc.n }, (_, i) =>
    newReplica(String.fromCharCode(65 + i), siteId(sc.salt * 8 + i), { foreignKeys: sc.foreignKeys, ddl: SCHEMA }),
  );
  const net = await new Network(replicas).start();
  const exp = new Expectation();
  for (const step of sc.steps) {
    if (step.op === "capture") await net.capture(step.r);
    else if (step.op === "pull") await net.pull(step.src, step.dst, step.limit, step.mode);
    else runAppOp(replicas[step.r]!, step, exp);
  }
  // Every replica ends with the same schema: columns one site added, the others add too.
  const extra = EXTRA_COLUMNS.filter((c) => replicas.some((r) => columnsOf(r.db, "teams").includes(c)));
  for (const r of replicas) for (const c of extra) addColumn(r.db, c);
  const { quiet } = await net.settle(10);
  return { replicas, net, exp, quiet, dumps: replicas.map((r) => logicalDump(r.db)) };
}

function tagsIn(dump: LogicalDump): Set<string> {
  const out = new Set<string>();
  for (const table of ["teams", "matches", "entries"]) {
    for (const row of dump[table]?.rows ?? []) {
      const tag = row.values.tag;
      if (tag && "text" in tag) out.add(tag.text);
    }
  }
  return out;
}

function keysIn(dump: LogicalDump): Set<string> {
  const out = new Set<string>();
  for (const row of dump.settings?.rows ?? []) {
    const k = row.values.key;
    if (k && "text" in k) out.add(`settings:${k.text}`);
  }
  for (const row of dump.pit?.rows ?? []) {
    const [team, event] = [row.values.team, row.values.event];
    if (team && "int" in team && event && "text" in event) out.add(`pit:${team.int}/${event.text}`);
  }
  return out;
}

function parkedRows(r: Replica): string[] {
  return (r.db.prepare("SELECT tbl, gid, why FROM _scoutsync_rows WHERE why IS NOT NULL").raw(true).all() as string[][]).map((x) => x.join(" | "));
}

/** A replica's bookkeeping and tables, printed for a failing case when SCOUTSYNC_DEBUG is set. */
function debugState(r: Replica): string {
  const rows = (sql: string) => (r.db.prepare(sql).raw(true).safeIntegers(true).all() as unknown[][]).map((x) => "    " + x.map((v) => (v instanceof Uint8Array ? `x'${Buffer.from(v).toString("hex")}'` : typeof v === "string" ? JSON.stringify(v) : String(v))).join(" | ")).join("\n");
  const tables = ["teams", "matches", "entries", "settings", "pit"].map((t) => `  ${t}:\n${rows(`SELECT * FROM ${t}`)}`).join("\n");
  return `== ${r.name} (${r.site})\n  _scoutsync_rows:\n${rows("SELECT tbl, gid, lk, seq, ins, clk, del, x, why FROM _scoutsync_rows ORDER BY tbl, lk")}\n${tables}`;
}

/** Checks one outcome; throws with enough context to read the failure without a debugger. */
function check(sc: Scenario, o: Outcome): void {
  const names = o.replicas.map((r) => r.name);
  const context = () => `\nsteps:\n  ${sc.steps.map((s) => describeStep(s, names)).join("\n  ")}`;
  expect(o.quiet, `the mesh did not go quiet in 10 rounds of full pulls${context()}`).toBe(true);
  for (const r of o.replicas) {
    expect(parkedRows(r), `${r.name} has parked rows${context()}`).toEqual([]);
  }
  for (let i = 1; i < o.dumps.length; i++) {
    expect(o.dumps[i], `${names[i]} differs from ${names[0]}${context()}`).toEqual(o.dumps[0]);
  }
  for (const r of o.replicas) {
    expect(checkIntegrity(r.db), `${r.name} is not locally consistent${context()}`).toEqual([]);
  }
  const tags = tagsIn(o.dumps[0]!);
  expect(o.exp.expectedRows().filter((group) => !group.some((t) => tags.has(t))), `rows no one deleted are missing (by tag)${context()}`).toEqual([]);
  expect(o.exp.lwwViolations(o.dumps[0]!), `the later write did not win${context()}`).toEqual([]);
  const keys = keysIn(o.dumps[0]!);
  expect(o.exp.expectedKeys().filter((k) => !keys.has(k)), `keys no one deleted are missing${context()}`).toEqual([]);
}

async function property(parentDeletes: boolean): Promise<void> {
  await fc.assert(
    fc.asyncProperty(scenarioArb(parentDeletes), async (sc) => {
      const o = await runScenario(sc);
      try {
        check(sc, o);
      } catch (err) {
        if (process.env.SCOUTSYNC_DEBUG) for (const r of o.replicas) console.log(debugState(r));
        throw err;
      } finally {
        for (const r of o.replicas) r.db.close();
      }
    }),
    { seed: SEED, numRuns: RUNS, ...(PATH ? { path: PATH, endOnFailure: true } : {}), interruptAfterTimeLimit: Number(process.env.SCOUTSYNC_TIME_LIMIT ?? 20_000), markInterruptAsFailure: false },
  );
}

describe("database engine convergence (property)", () => {
  it("random writes on 3–5 replicas with lossy, duplicated, reordered delivery converge", async () => {
    await property(false);
  }, 120_000);

  // Adds deletes of parent rows (matches), racing with other sites adding children (entries):
  // whatever the engine decides (the child goes with its parent, or keeps it alive), every site
  // must decide the same and keep its foreign keys pointing at existing rows.
  it("…and with parent rows deleted while other sites add children to them", async () => {
    await property(true);
  }, 120_000);
});
