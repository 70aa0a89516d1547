/**
 * `npm run demo`: three scoutsync sites on loopback (ports 8787-8789 when free), each with its
 * own data and instance folders in a temporary folder, sample scouting data and a few files on
 * site 1, all linked to each other. Prints the dashboards and commands to try; Ctrl-C stops
 * everything and removes the folders. `--check` proves it works and exits: a row and a file
 * written on site 1 must reach sites 2 and 3.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_SEED } from "./args.js";
import { readOr } from "./context.js";
import { createSchema, insertWorkload, openReader, openWriter } from "./db.js";
import { bundleBuilt, linkMesh, SiteFleet, type RunningSite } from "./sites.js";
import { waitFor } from "./wait.js";
import { scoutingWorkload } from "./workload-db.js";
import { instanceFolder, writeFolder } from "./workload-files.js";

const USAGE = `usage: npm run demo [-- --check] [--keep] [--verbose] [--seed N]

Starts three linked scoutsync sites on loopback with sample data; Ctrl-C stops them.
  --check     start, verify that a row and a file written on site 1 reach sites 2 and 3, stop
  --keep      keep the temporary folder on exit
  --verbose   show the sites' own log lines`;

const CHECK_TIMEOUT_MS = 30_000;

class Interrupted extends Error {}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: { check: { type: "boolean" }, keep: { type: "boolean" }, verbose: { type: "boolean" }, seed: { type: "string" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!bundleBuilt()) {
    process.stderr.write("demo: dist/scoutsync.js is missing; run `npm run build` (npm run demo builds first)\n");
    return 1;
  }
  const seed = values.seed === undefined ? DEFAULT_SEED : Number(values.seed);
  const check = values.check === true;
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const root = mkdtempSync(path.join(tmpdir(), "scoutsync-demo-"));
  const fleet = new SiteFleet();
  let stopping: Promise<void> | null = null;
  const shutdown = () =>
    (stopping ??= (async () => {
      await fleet.stop();
      if (!values.keep) rmSync(root, { recursive: true, force: true });
    })());
  process.on("exit", () => fleet.killAllNow());
  // First Ctrl-C: stop the sites gracefully (also in the middle of starting them); second: kill now.
  let signalled = 0;
  let onStop: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => (onStop = resolve));
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      if (++signalled > 1) {
        fleet.killAllNow();
        if (!values.keep) rmSync(root, { recursive: true, force: true });
        process.exit(130);
      }
      onStop();
    });
  }
  const orStop = async <T>(p: Promise<T>): Promise<T> => {
    const r = await Promise.race([p.then((v) => ({ v })), stopRequested.then(() => null)]);
    if (r === null) throw new Interrupted();
    return r.v;
  };

  try {
    const sites: RunningSite[] = [];
    for (let i = 1; i <= 3; i++) {
      const echo = values.verbose ? (line: string) => say(`[site${i}] ${line}`) : undefined;
      sites.push(await fleet.create({ name: `site${i}`, dir: path.join(root, `site${i}`), port: 8786 + i, echo }));
    }
    const [s1, s2, s3] = sites as [RunningSite, RunningSite, RunningSite];
    // Each scouting app creates its own schema; site 1's app already has data and files.
    const sample = scoutingWorkload(seed, { entries: 36, teams: 8, pitNotes: 4 });
    for (const s of sites) {
      const db = openWriter(s.db);
      try {
        createSchema(db);
        if (s === s1) insertWorkload(db, sample);
      } finally {
        db.close();
      }
    }
    writeFolder(s1.instance, seed, instanceFolder(seed, { configs: 4, images: 2, largeMiB: 0 }));
    writeFileSync(path.join(s1.instance, "welcome.txt"), "Files in any site's instance folder appear in the others.\n");

    say(`scoutsync demo: starting 3 sites in ${root} ...`);
    await orStop(Promise.all(sites.map((s) => s.start())));
    await orStop(linkMesh(sites));
    say("all three sites are up and linked to each other (full mesh).\n");

    if (check) return await orStop(runCheck(s1, [s2, s3], say));

    for (const s of sites) say(`  ${s.name}: dashboard ${s.url}/   data ${s.data}   instance ${s.instance}`);
    const q = (p: string) => `'${p.replace(/'/g, "'\\''")}'`;
    say(`
Try it:
  echo hi > ${q(path.join(s1.instance, "note.txt"))}
  cat ${q(path.join(s3.instance, "note.txt"))}

  python3 -c "import sqlite3; c = sqlite3.connect('${s1.db}'); c.execute(\\"INSERT INTO teams (number, name, city) VALUES (4242, 'Hello from site 1', 'Demo')\\"); c.commit()"
  sqlite3 ${q(s3.db)} "SELECT number, name FROM teams ORDER BY id DESC LIMIT 3"

  node dist/scoutsync.js status --data ${q(s1.data)}
  node dist/scoutsync.js peer list --data ${q(s2.data)}

Ctrl-C stops all three sites${values.keep ? "" : " and removes the folder"}.`);
    // Until Ctrl-C, or until a site dies on its own (then the demo ends too).
    const died = new Promise<void>((resolve) => {
      const watch = setInterval(() => {
        if (sites.some((s) => !s.running)) {
          say("a site stopped unexpectedly; stopping the others");
          clearInterval(watch);
          resolve();
        }
      }, 1000);
      void stopRequested.then(() => clearInterval(watch));
    });
    await Promise.race([stopRequested, died]);
    say("\nstopping the sites ...");
    return 0;
  } catch (err) {
    if (err instanceof Interrupted) {
      say("\ninterrupted; stopping the sites ...");
      return 130;
    }
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    for (const s of fleet.sites) if (!s.running && s.proc) process.stderr.write(`${s.name}:\n${s.logTail(2000)}\n`);
    return 1;
  } finally {
    signalled = Math.max(signalled, 1);
    await shutdown();
    say("stopped.");
  }
}

/** A row and a file written on site 1 must reach the other sites, and so must the sample data. */
async function runCheck(from: RunningSite, to: RunningSite[], say: (line: string) => void): Promise<number> {
  const tag = `demo-check-${Date.now()}`;
  const w = openWriter(from.db);
  try {
    w.prepare("INSERT INTO teams (number, name, city) VALUES (9999, ?, 'Loopback')").run(tag);
  } finally {
    w.close();
  }
  mkdirSync(from.instance, { recursive: true });
  writeFileSync(path.join(from.instance, "check.txt"), `${tag}\n`);
  const t0 = performance.now();
  try {
    for (const s of to) {
      await waitFor(
        `the row and the file to reach ${s.name}`,
        () => {
          if (readOr(path.join(s.instance, "check.txt")) !== `${tag}\n`) return false;
          if (readOr(path.join(s.instance, "welcome.txt")) === null) return false;
          const db = openReader(s.db);
          try {
            const row = db.prepare("SELECT count(*) FROM teams WHERE name = ?").raw(true).get(tag) as unknown[];
            const entries = db.prepare("SELECT count(*) FROM entries").raw(true).get() as unknown[];
            return Number(row[0]) === 1 && Number(entries[0]) === 36;
          } catch {
            return false;
          } finally {
            db.close();
          }
        },
        CHECK_TIMEOUT_MS,
        20,
      );
    }
  } catch (err) {
    say(`FAIL: ${(err as Error).message}`);
    return 1;
  }
  say(`OK: a row and a file written on ${from.name} reached ${to.map((s) => s.name).join(" and ")} (${Math.round(performance.now() - t0)} ms), with the sample data`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.stdout.write("", () => process.exit(code)),
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
