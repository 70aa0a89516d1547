import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "libsql";
import { afterAll, describe, expect, it } from "vitest";
import { seeded } from "../../bench/random.js";
import { binaryFiles, fileContent, instanceFolder, sha256, writeFolder } from "../../bench/workload-files.js";
import { changeScript, scoutingWorkload, SCHEMA_SQL } from "../../bench/workload-db.js";
import { applyScript, insertWorkload } from "../../bench/db.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("seeded random", () => {
  it("gives the same stream for the same seed and a different one for another", () => {
    const a = seeded(42);
    const b = seeded(42);
    const c = seeded(43);
    const xs = Array.from({ length: 20 }, () => a.next());
    expect(Array.from({ length: 20 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 20 }, () => c.next())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it("keeps ints in range and forks independent, repeatable streams", () => {
    const r = seeded("s");
    for (let i = 0; i < 1000; i++) {
      const v = r.int(3, 7);
      expect(v).toBeGreaterThanOrEqual(3);
      expect(v).toBeLessThanOrEqual(7);
    }
    expect(seeded(1).fork("x").bytes(16)).toEqual(seeded(1).fork("x").bytes(16));
    expect(seeded(1).fork("x").bytes(16)).not.toEqual(seeded(1).fork("y").bytes(16));
    expect(seeded(1).bytes(5)).toHaveLength(5);
  });
});

describe("scouting database workload", () => {
  it("is the same for the same seed, row for row, and differs for another seed", () => {
    const a = scoutingWorkload(7, { entries: 500 });
    const b = scoutingWorkload(7, { entries: 500 });
    expect([...a.entries()]).toEqual([...b.entries()]);
    expect(a.teams).toEqual(b.teams);
    expect(a.pitNotes).toEqual(b.pitNotes);
    expect([...scoutingWorkload(8, { entries: 500 }).entries()]).not.toEqual([...a.entries()]);
  });

  it("has ~10 columns per entry, one match per six entries, photos as blobs, and counts that add up", () => {
    const w = scoutingWorkload(1, { entries: 600, teams: 10, pitNotes: 4 });
    const rows = [...w.entries()];
    expect(rows).toHaveLength(600);
    expect(rows[0]).toHaveLength(11);
    expect(w.matches).toHaveLength(100);
    expect(w.pitNotes[0]![6]).toBeInstanceOf(Uint8Array);
    expect(w.total).toBe(600 + 100 + 10 + 4);
  });

  it("loads into SQLite, and its change script applies cleanly (updates and deletes hit live rows)", () => {
    const w = scoutingWorkload(3, { entries: 300 });
    const db = new Database(":memory:");
    db.exec(SCHEMA_SQL);
    expect(insertWorkload(db, w)).toBe(w.total);
    const script = changeScript(3, 2000, 300, w.teams.map((t) => Number(t[1])));
    expect(changeScript(3, 2000, 300, w.teams.map((t) => Number(t[1])))).toEqual(script);
    applyScript(db, script, 100);
    const live = new Set(Array.from({ length: 300 }, (_, i) => i + 1));
    for (const c of script) {
      if (c.kind === "insert") live.add(Number(c.row[0]));
      else {
        expect(live.has(c.id)).toBe(true);
        if (c.kind === "delete") live.delete(c.id);
      }
    }
    const n = (db.prepare("SELECT count(*) FROM entries").raw(true).get() as unknown[])[0];
    expect(Number(n)).toBe(live.size);
    db.close();
  });
});

describe("instance folder workload", () => {
  it("lists configs, images and one large file, the same for the same seed", () => {
    const f = instanceFolder(5, { configs: 8, images: 3, largeMiB: 1 });
    expect(f).toHaveLength(12);
    expect(f.filter((s) => s.kind === "json")).toHaveLength(8);
    expect(f.at(-1)).toMatchObject({ kind: "binary", size: 1024 * 1024 });
    expect(instanceFolder(5, { configs: 8, images: 3, largeMiB: 1 })).toEqual(f);
  });

  it("makes the same bytes for the same seed and path, of the stated size, JSON that parses", () => {
    const [json] = instanceFolder(9, { configs: 1, images: 0, largeMiB: 0 });
    const a = fileContent(9, json!);
    expect(a).toHaveLength(json!.size);
    expect(fileContent(9, json!)).toEqual(a);
    expect(fileContent(10, json!)).not.toEqual(a);
    expect(() => JSON.parse(new TextDecoder().decode(a))).not.toThrow();
    for (const size of [3, 50, 200, 1024, 4096]) {
      const bytes = fileContent(1, { path: "c.json", size, kind: "json" });
      expect(bytes).toHaveLength(size);
      expect(() => JSON.parse(new TextDecoder().decode(bytes))).not.toThrow();
    }
  });

  it("writes files (large ones in slices) whose hashes match fileContent", () => {
    const root = mkdtempSync(path.join(tmpdir(), "scoutsync-bench-unit-"));
    dirs.push(root);
    const specs = [...binaryFiles("bin", 2, 1000), ...binaryFiles("big", 1, 9 * 1024 * 1024)];
    const hashes = writeFolder(root, 11, specs);
    for (const s of specs) {
      const disk = readFileSync(path.join(root, s.path));
      expect(disk.length).toBe(s.size);
      expect(sha256(disk)).toBe(hashes.get(s.path));
      expect(sha256(fileContent(11, s))).toBe(hashes.get(s.path));
    }
  });
});
