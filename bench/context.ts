/**
 * What every benchmark gets: its sizes and seed, a temporary folder, the fleet of real sites
 * (stopped at the end whatever happens), and fixtures shared across benchmarks of one run: a
 * linked pair of sites, the Syncthing pair, and whether file sync answers at all.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { BenchArgs, BenchId } from "./args.js";
import { createSchema, insertWorkload, openWriter } from "./db.js";
import type { Outcome } from "./outcome.js";
import { linkMesh, RunningSite, SiteFleet } from "./sites.js";
import { SyncthingPair, syncthingAvailable } from "./syncthing.js";
import { latencyUntil } from "./wait.js";
import type { ScoutingWorkload } from "./workload-db.js";

export const FILE_SYNC_MISSING = "skipped: file sync not available";

/** What the app has in its database before scoutsync starts on a site. */
export type DbSeed = { schema: true; workload?: ScoutingWorkload };

/** A pair whose B holds A's rows, handed from one benchmark to the next (B4 → B8 → B7). */
export interface SyncedPair {
  a: RunningSite;
  b: RunningSite;
  workload: ScoutingWorkload;
}

export class BenchContext {
  readonly fleet = new SiteFleet();
  readonly earlier = new Map<BenchId, Outcome>();
  private shared: [RunningSite, RunningSite] | null = null;
  private syncthingPair: Promise<SyncthingPair | null> | null = null;
  private syncthingStarted: SyncthingPair | null = null;
  private fileSync: Promise<boolean> | null = null;
  private synced: SyncedPair | null = null;
  private retiring: Promise<void>[] = [];
  private counter = 0;

  constructor(
    readonly args: BenchArgs,
    readonly root: string,
    readonly log: (line: string) => void,
  ) {}

  get sizes() {
    return this.args.sizes;
  }

  get seed() {
    return this.args.seed;
  }

  /** A fresh folder under this run's temporary root. */
  dir(name: string): string {
    const d = path.join(this.root, `${String(++this.counter).padStart(2, "0")}-${name}`);
    mkdirSync(d, { recursive: true });
    return d;
  }

  /** Makes a site's folders and app.db (schema, maybe rows) without starting it. */
  async prepareSite(name: string, db: DbSeed): Promise<RunningSite> {
    const site = await this.fleet.create({ name, dir: this.dir(`site-${name}`) });
    const w = openWriter(site.db);
    try {
      createSchema(w);
      if (db.workload) insertWorkload(w, db.workload);
    } finally {
      w.close();
    }
    return site;
  }

  /** Two new sites (A may start with rows), started side by side and linked both ways. */
  async newPair(label: string, a: DbSeed = { schema: true }, b: DbSeed = { schema: true }): Promise<[RunningSite, RunningSite]> {
    const sa = await this.prepareSite(`${label}-a`, a);
    const sb = await this.prepareSite(`${label}-b`, b);
    await Promise.all([sa.start(), sb.start()]);
    await linkMesh([sa, sb]);
    return [sa, sb];
  }

  /** The pair the latency benchmarks share (B1, B2, B3's first two sites, B10): schema only. */
  async pair(): Promise<[RunningSite, RunningSite]> {
    if (this.shared === null || !this.shared.every((s) => s.running)) {
      this.log("  starting two linked sites on loopback ...");
      this.shared = await this.newPair("shared");
    }
    return this.shared;
  }

  /** Syncthing's pair, started once per run; null when /usr/bin/syncthing is not installed. */
  syncthing(): Promise<SyncthingPair | null> {
    if (!syncthingAvailable()) return Promise.resolve(null);
    this.syncthingPair ??= (async () => {
      this.log("  starting two Syncthing instances on loopback ...");
      this.syncthingStarted = await SyncthingPair.start(this.dir("syncthing"));
      return this.syncthingStarted;
    })();
    return this.syncthingPair;
  }

  /** Whether any of `ids` is still to run after `current` in this run. */
  later(current: BenchId, ids: readonly BenchId[]): boolean {
    const order = this.args.ids;
    return ids.some((id) => order.indexOf(id) > order.indexOf(current));
  }

  /**
   * Hands a synced pair on to a later benchmark of this run that can start from it (saves a
   * pair start and an initial sync), or stops it when none will.
   */
  handOn(current: BenchId, pair: SyncedPair, takers: readonly BenchId[]): void {
    if (this.later(current, takers)) this.synced = pair;
    else this.retire([pair.a, pair.b]);
  }

  /** The pair a previous benchmark handed on, if any (and still running); taking it empties the slot. */
  takeSynced(): SyncedPair | null {
    const p = this.synced;
    this.synced = null;
    return p && p.a.running && p.b.running ? p : null;
  }

  /** Stops sites in the background; the next benchmark waits for them (afterRetired), close() too. */
  retire(sites: readonly RunningSite[]): void {
    this.retiring.push(this.fleet.stop(sites));
  }

  /**
   * Resolves once every retired site has stopped. A stopping site still works (its database
   * server copies what is left of its WAL back), and the next benchmark's figures must not
   * include that: in one full run B4 measured 14,080 rows/s just after B3's ten sites and B9's
   * 1.2 M-row pair were retired, against 18,900–19,700 rows/s in runs of its own.
   */
  async afterRetired(): Promise<void> {
    await Promise.allSettled(this.retiring.splice(0));
  }

  /**
   * Does the instance folder sync at all? A 1 KiB file written in the shared pair's site A
   * must appear in site B within 10 s. Asked once per run.
   */
  fileSyncAvailable(): Promise<boolean> {
    this.fileSync ??= (async () => {
      const [a, b] = await this.pair();
      const rel = path.join("bench-probe", `probe-${process.pid}.txt`);
      const body = `scoutsync bench probe ${Date.now()}\n`.padEnd(1024, ".");
      mkdirSync(path.join(a.instance, "bench-probe"), { recursive: true });
      const t0 = performance.now();
      writeFileSync(path.join(a.instance, rel), body);
      const took = await latencyUntil(t0, () => readOr(path.join(b.instance, rel)) === body, 10_000, 5);
      this.log(took === null ? "  file sync probe: a 1 KiB file did not reach site B within 10 s" : `  file sync probe: a 1 KiB file reached site B in ${Math.round(took)} ms`);
      return took !== null;
    })();
    return this.fileSync;
  }

  /** Stops every site and Syncthing instance this run started. */
  async close(): Promise<void> {
    const st = this.syncthingPair;
    await Promise.allSettled([...this.retiring, this.fleet.stop(), st?.then((p) => p?.stop())]);
  }

  /** Synchronous last resort (second Ctrl-C, crash): SIGKILL everything we started. */
  killNow(): void {
    this.fleet.killAllNow();
    this.syncthingStarted?.killNow();
  }
}

export function readOr(file: string, fallback: string | null = null): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return fallback;
  }
}
