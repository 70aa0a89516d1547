/**
 * The scouting-like database every database benchmark uses: teams, matches, scouting entries
 * (11 columns with the key, the "~10 columns" of DESIGN.md §5) and pit notes with small photo
 * blobs. Rows come from a seeded generator, so the same seed gives the same rows; the entries
 * are produced lazily so a million of them never sit in memory at once.
 */
import type { Random } from "./random.js";
import { seeded } from "./random.js";

export type Value = number | string | Uint8Array | null;
export type Row = Value[];

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS teams (id INTEGER PRIMARY KEY AUTOINCREMENT, number INTEGER NOT NULL, name TEXT NOT NULL, city TEXT, rookie_year INTEGER);
CREATE TABLE IF NOT EXISTS matches (id INTEGER PRIMARY KEY, event TEXT NOT NULL, level TEXT NOT NULL, number INTEGER NOT NULL, red TEXT, blue TEXT, scheduled_at TEXT);
CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY, match_id INTEGER REFERENCES matches(id), team INTEGER NOT NULL, scout TEXT, auto_points INTEGER, teleop_points INTEGER, endgame TEXT, defense REAL, penalties INTEGER, comments TEXT, created_at TEXT);
CREATE INDEX IF NOT EXISTS entries_created ON entries(created_at);
CREATE TABLE IF NOT EXISTS pit_notes (id INTEGER PRIMARY KEY, team INTEGER NOT NULL REFERENCES teams(id), author TEXT, drivetrain TEXT, weight REAL, note TEXT, photo BLOB);
`;

export const INSERT_SQL = {
  teams: "INSERT INTO teams (id, number, name, city, rookie_year) VALUES (?, ?, ?, ?, ?)",
  matches: "INSERT INTO matches (id, event, level, number, red, blue, scheduled_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
  entries: "INSERT INTO entries (id, match_id, team, scout, auto_points, teleop_points, endgame, defense, penalties, comments, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  pit_notes: "INSERT INTO pit_notes (id, team, author, drivetrain, weight, note, photo) VALUES (?, ?, ?, ?, ?, ?, ?)",
} as const;

/** A new entry without an id (the app lets SQLite pick it), found again by its `created_at` tag. */
export const PROBE_INSERT_SQL =
  "INSERT INTO entries (match_id, team, scout, auto_points, teleop_points, endgame, defense, penalties, comments, created_at) VALUES (1, 254, 'bench', 3, 12, 'park', 0.5, 0, ?, ?)";
/**
 * Looks among the newest rows only: `created_at` has no index, and a full scan per poll would
 * time the reader (B9: a million rows scanned every millisecond), not the sync. A new row takes
 * the highest id on every site (the benchmarks delete nothing while probing); a row that landed
 * lower would show up as a timeout, not as a fast sample.
 */
export const PROBE_SELECT_SQL = "SELECT 1 FROM (SELECT created_at FROM entries ORDER BY rowid DESC LIMIT 64) WHERE created_at = ?";

/** Cheap content fingerprint: equal on two sites once they hold the same rows (ids aside). */
export const FINGERPRINT_SQL = `SELECT
  (SELECT count(*) FROM teams), (SELECT count(*) FROM matches),
  (SELECT count(*) FROM entries), (SELECT total(teleop_points * 7 + auto_points) FROM entries), (SELECT total(length(comments)) FROM entries),
  (SELECT count(*) FROM pit_notes), (SELECT total(length(photo)) FROM pit_notes)`;

export interface ScoutingSizes {
  entries: number;
  teams?: number;
  pitNotes?: number;
  /** Bytes of each pit photo: [min, max]. */
  photoBytes?: [number, number];
}

export interface ScoutingWorkload {
  teams: Row[];
  matches: Row[];
  pitNotes: Row[];
  /** A fresh iterator over the entries each call (same rows every time). */
  entries(): Iterable<Row>;
  counts: { teams: number; matches: number; entries: number; pit_notes: number };
  total: number;
}

const CITIES = ["Houston", "Detroit", "St. Louis", "Toronto", "Sydney", "Istanbul", "Shenzhen", "Tel Aviv", "Mexico City", "São Paulo"];
const WORDS = ["fast", "cycle", "intake", "jammed", "climb", "defense", "solid", "auto", "missed", "amp", "speaker", "trap", "great", "driver", "slow", "tipped", "reliable", "note"];
const SCOUTS = ["ana", "ben", "chloé", "dev", "eli", "fatima", "gus", "hiro", "ivy", "jon"];
const ENDGAME = ["none", "park", "onstage", "harmony", "spotlit"];
const DRIVETRAINS = ["swerve", "tank", "mecanum", "west coast"];
const EVENT = "2026txhou";
const BASE_TIME = Date.UTC(2026, 3, 16, 8, 0, 0);

export function scoutingWorkload(seed: number | string, sizes: ScoutingSizes): ScoutingWorkload {
  const root = seeded(seed);
  const teamCount = sizes.teams ?? 60;
  const pitCount = sizes.pitNotes ?? teamCount;
  const matchCount = Math.max(1, Math.ceil(sizes.entries / 6));
  const [photoMin, photoMax] = sizes.photoBytes ?? [512, 4096];

  const tr = root.fork("teams");
  const teamNumbers: number[] = [];
  const teams: Row[] = [];
  for (let i = 1; i <= teamCount; i++) {
    const number = 100 + i * 37 + tr.int(0, 30);
    teamNumbers.push(number);
    teams.push([i, number, `Team ${number} ${tr.pick(WORDS)}`, tr.pick(CITIES), tr.int(1992, 2025)]);
  }

  const mr = root.fork("matches");
  const matches: Row[] = [];
  for (let i = 1; i <= matchCount; i++) {
    const alliance = () => [0, 1, 2].map(() => mr.pick(teamNumbers)).join(",");
    matches.push([i, EVENT, i <= matchCount * 0.9 ? "qm" : "sf", i, alliance(), alliance(), new Date(BASE_TIME + i * 7 * 60_000).toISOString()]);
  }

  const pr = root.fork("pit");
  const pitNotes: Row[] = [];
  for (let i = 1; i <= pitCount; i++) {
    pitNotes.push([i, ((i - 1) % teamCount) + 1, pr.pick(SCOUTS), pr.pick(DRIVETRAINS), Math.round(pr.int(400, 1250)) / 10, sentence(pr, 6, 30), photo(pr, pr.int(photoMin, photoMax))]);
  }

  const entries = function* (): Iterable<Row> {
    const er = root.fork("entries");
    for (let i = 1; i <= sizes.entries; i++) yield entryRow(er, i, Math.ceil(i / 6), teamNumbers);
  };
  const counts = { teams: teamCount, matches: matchCount, entries: sizes.entries, pit_notes: pitCount };
  return { teams, matches, pitNotes, entries, counts, total: teamCount + matchCount + sizes.entries + pitCount };
}

function entryRow(r: Random, id: number, match: number, teamNumbers: readonly number[]): Row {
  return [
    id,
    match,
    r.pick(teamNumbers),
    r.pick(SCOUTS),
    r.int(0, 25),
    r.int(0, 80),
    r.pick(ENDGAME),
    Math.round(r.next() * 50) / 10,
    r.int(0, 3),
    sentence(r, 3, 12),
    new Date(BASE_TIME + id * 1000).toISOString(),
  ];
}

function sentence(r: Random, min: number, max: number): string {
  const n = r.int(min, max);
  const words: string[] = [];
  for (let i = 0; i < n; i++) words.push(r.pick(WORDS));
  return words.join(" ");
}

/** A tiny "JPEG": the magic bytes, then noise (incompressible, like a real photo). */
function photo(r: Random, bytes: number): Uint8Array {
  const out = r.bytes(Math.max(4, bytes)).slice();
  out.set([0xff, 0xd8, 0xff, 0xe0]);
  return out;
}

/** One change of a catch-up script (B8): what an app does to its database over an event. */
export type Change =
  | { kind: "insert"; row: Row }
  | { kind: "update"; id: number; teleop: number; comments: string }
  | { kind: "delete"; id: number };

export const CHANGE_SQL = {
  insert: INSERT_SQL.entries,
  update: "UPDATE entries SET teleop_points = ?, comments = ? WHERE id = ?",
  delete: "DELETE FROM entries WHERE id = ?",
} as const;

/**
 * `count` changes to a database that already holds entries 1..baseline: 60 % inserts, 30 %
 * updates and 10 % deletes of rows that exist at that point of the script.
 */
export function changeScript(seed: number | string, count: number, baseline: number, teamNumbers: readonly number[]): Change[] {
  const r = seeded(seed).fork("changes");
  const live: number[] = [];
  for (let i = 1; i <= baseline; i++) live.push(i);
  let nextId = baseline + 1;
  const out: Change[] = [];
  for (let i = 0; i < count; i++) {
    const roll = r.next();
    if (live.length === 0 || roll < 0.6) {
      const id = nextId++;
      out.push({ kind: "insert", row: entryRow(r, id, Math.max(1, Math.ceil(Math.min(id, baseline || 1) / 6)), teamNumbers) });
      live.push(id);
    } else if (roll < 0.9) {
      out.push({ kind: "update", id: r.pick(live), teleop: r.int(0, 80), comments: sentence(r, 3, 12) });
    } else {
      const at = r.int(0, live.length - 1);
      const id = live[at]!;
      live[at] = live[live.length - 1]!;
      live.pop();
      out.push({ kind: "delete", id });
    }
  }
  return out;
}

export function changeArgs(c: Change): Value[] {
  switch (c.kind) {
    case "insert":
      return c.row;
    case "update":
      return [c.teleop, c.comments, c.id];
    case "delete":
      return [c.id];
  }
}
