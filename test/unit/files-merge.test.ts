/** The file merge rule: version vectors, the per-path decision, conflict copies, and convergence under any delivery schedule. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stamp, tick, observe, stampHlc, ZERO_HLC, type Hlc } from "../../functions/clock/hlc.js";
import { conflictPathFor, mergeBatch, mergeVersions } from "../../functions/files/merge.js";
import { bumpVv, compareVv, joinVv, vvFromJson, vvToJson, type VersionVector } from "../../functions/files/vector.js";
import { folderVersion, tombstone, type FileVersion } from "../../functions/files/version.js";
import { isConflictCopy, parseConflictName } from "../../functions/files/conflict.js";

const A = "aaaaaaaa00000001";
const B = "bbbbbbbb00000002";
const C = "cccccccc00000003";
const T0 = Date.UTC(2024, 2, 9, 7, 5, 4);
const h = (c: string) => c.repeat(64).slice(0, 64);

function edit(path: string, content: string, vv: VersionVector, origin: string, ms: number, counter = 0): FileVersion {
  return { path, hash: h(content), size: 1, blocks: [h(content)], vv, stamp: stamp({ ms, counter }, origin), deleted: false, dir: false, origin };
}

describe("version vectors", () => {
  it("compare: equal, greater, lesser, concurrent", () => {
    expect(compareVv({}, {})).toBe("equal");
    expect(compareVv({ [A]: 1 }, { [A]: 1 })).toBe("equal");
    expect(compareVv({ [A]: 2 }, { [A]: 1 })).toBe("greater");
    expect(compareVv({ [A]: 1 }, { [A]: 1, [B]: 1 })).toBe("lesser");
    expect(compareVv({ [A]: 2 }, { [A]: 1, [B]: 1 })).toBe("concurrent");
    expect(compareVv({ [A]: 0 }, {})).toBe("equal");
  });

  it("join is the pointwise maximum with sorted keys; bump adds one for the site", () => {
    expect(joinVv({ [B]: 1, [A]: 3 }, { [A]: 2, [C]: 5 })).toEqual({ [A]: 3, [B]: 1, [C]: 5 });
    expect(Object.keys(joinVv({ [C]: 1 }, { [A]: 1 }))).toEqual([A, C]);
    expect(bumpVv({ [A]: 1 }, B)).toEqual({ [A]: 1, [B]: 1 });
    expect(bumpVv({ [A]: 1 }, A)).toEqual({ [A]: 2 });
  });

  it("round-trips through canonical JSON, equal vectors giving equal text", () => {
    expect(vvToJson({ [B]: 1, [A]: 2 })).toBe(vvToJson({ [A]: 2, [B]: 1, [C]: 0 }));
    expect(vvFromJson(vvToJson({ [B]: 1, [A]: 2 }))).toEqual({ [A]: 2, [B]: 1 });
    expect(() => vvFromJson("[1]")).toThrow();
    expect(() => vvFromJson(`{"${A}": -1}`)).toThrow();
  });
});

describe("mergeVersions", () => {
  const base = edit("notes.txt", "x", { [A]: 1 }, A, T0);

  it("takes a version that saw ours, keeps ours when it saw theirs", () => {
    const later = edit("notes.txt", "y", { [A]: 1, [B]: 1 }, B, T0 - 5000);
    expect(mergeVersions(base, later)).toEqual({ winner: later, changed: true, conflict: null });
    expect(mergeVersions(later, base)).toEqual({ winner: later, changed: false, conflict: null });
    expect(mergeVersions(null, base)).toEqual({ winner: base, changed: true, conflict: null });
    expect(mergeVersions(base, { ...base })).toMatchObject({ winner: base, changed: false });
  });

  it("concurrent edits: the later stamp wins the path, the loser moves to its conflict name", () => {
    const mine = edit("notes.txt", "m", { [A]: 2 }, A, T0 + 1000);
    const theirs = edit("notes.txt", "t", { [A]: 1, [B]: 1 }, B, T0 + 2000);
    const out = mergeVersions(mine, theirs);
    expect(out.changed).toBe(true);
    expect(out.winner).toEqual({ ...theirs, vv: { [A]: 2, [B]: 1 } });
    expect(out.conflict).toEqual({ ...mine, path: "notes.sync-conflict-20240309-070505-aaaaaaa.txt" });
    // The other site derives the same two entries.
    const there = mergeVersions(theirs, mine);
    expect(there.winner).toEqual(out.winner);
    expect(there.conflict).toEqual(out.conflict);
    expect(isConflictCopy(out.conflict!.path)).toBe(true);
    expect(parseConflictName(out.conflict!.path)).toMatchObject({ original: "notes.txt", site: "aaaaaaa" });
  });

  it("edit versus concurrent delete: the edit wins, with both histories", () => {
    const del = tombstone("notes.txt", { [A]: 2 }, stamp({ ms: T0 + 9000, counter: 0 }, A), A);
    const ed = edit("notes.txt", "e", { [A]: 1, [B]: 1 }, B, T0 + 1000);
    for (const [l, r] of [[del, ed], [ed, del]] as const) {
      const out = mergeVersions(l, r);
      expect(out.winner).toEqual({ ...ed, vv: { [A]: 2, [B]: 1 } });
      expect(out.conflict).toBeNull();
    }
  });

  it("concurrent versions with the same content merge without a conflict copy", () => {
    const x1 = edit("a", "s", { [A]: 1 }, A, T0);
    const x2 = edit("a", "s", { [B]: 1 }, B, T0 + 1);
    const out = mergeVersions(x1, x2);
    expect(out.conflict).toBeNull();
    expect(out.winner).toEqual({ ...x2, vv: { [A]: 1, [B]: 1 } });
    expect(mergeVersions(x2, x1).winner).toEqual(out.winner);
    const d1 = tombstone("a", { [A]: 1 }, stamp({ ms: T0, counter: 0 }, A), A);
    const d2 = tombstone("a", { [B]: 1 }, stamp({ ms: T0, counter: 0 }, B), B);
    expect(mergeVersions(d1, d2).winner).toEqual({ ...d2, vv: { [A]: 1, [B]: 1 } });
  });

  it("conflict names are deterministic and stay valid for long and dotless names", () => {
    const v = edit("dir/Makefile", "m", { [A]: 1 }, A, T0);
    expect(conflictPathFor(v)).toBe("dir/Makefile.sync-conflict-20240309-070504-aaaaaaa");
    expect(conflictPathFor(v)).toBe(conflictPathFor({ ...v }));
    const long = edit(`${"d".repeat(250)}/${"f".repeat(250)}.json`, "l", { [A]: 1 }, A, T0);
    expect(isConflictCopy(conflictPathFor(long))).toBe(true);
  });
});

describe("mergeBatch", () => {
  it("merges several versions of one path and lands conflict copies, counting what changed nothing", async () => {
    const store = new Map<string, FileVersion>();
    const lookup = (p: string) => store.get(p) ?? null;
    const v1 = edit("n.txt", "1", { [A]: 1 }, A, T0);
    const v2 = edit("n.txt", "2", { [A]: 2 }, A, T0 + 10);
    const w = edit("n.txt", "w", { [B]: 1 }, B, T0 + 5);
    const out = await mergeBatch([v1, v2, v1, w], lookup);
    expect(out.unchanged).toBe(1);
    expect(out.conflicts).toBe(1);
    expect(out.writes.map((x) => x.path).sort()).toEqual(["n.sync-conflict-20240309-070504-bbbbbbb.txt", "n.txt"]);
    expect(out.writes.find((x) => x.path === "n.txt")).toEqual({ ...v2, vv: { [A]: 2, [B]: 1 } });
  });
});

// ---- convergence property -------------------------------------------------------------------

type Op =
  | { kind: "edit"; site: number; path: number; content: number; ms: number }
  | { kind: "delete"; site: number; path: number; ms: number }
  | { kind: "send"; from: number; to: number; pick: number[]; dup: boolean };

const SITES = [A, B, C];
const PATHS = ["a.txt", "dir/b.json", "c"];

class Replica {
  readonly files = new Map<string, FileVersion>();
  hlc: Hlc = ZERO_HLC;
  constructor(readonly site: string) {}

  local(path: string, content: string | null, ms: number): FileVersion | null {
    const cur = this.files.get(path) ?? null;
    if (content === null && (cur === null || cur.deleted)) return null;
    this.hlc = tick(this.hlc, ms);
    const st = stamp(this.hlc, this.site);
    const vv = bumpVv(cur?.vv ?? {}, this.site);
    // "/" stands for a folder at the path.
    const v =
      content === null
        ? tombstone(path, vv, st, this.site, cur?.dir ?? false)
        : content === "/"
          ? folderVersion(path, vv, st, this.site)
          : { path, hash: h(content), size: 1, blocks: [h(content)], vv, stamp: st, deleted: false, dir: false, origin: this.site };
    this.files.set(path, v);
    return v;
  }

  async receive(batch: FileVersion[]): Promise<number> {
    for (const v of batch) this.hlc = observe(this.hlc, stampHlc(v.stamp));
    const out = await mergeBatch(batch, (p) => this.files.get(p) ?? null);
    for (const w of out.writes) this.files.set(w.path, w);
    return out.writes.length;
  }

  snapshot(): Record<string, string> {
    return Object.fromEntries([...this.files.values()].sort((x, y) => (x.path < y.path ? -1 : 1)).map((v) => [v.path, `${v.deleted ? "-" : v.dir ? "/" : v.hash?.[0]} ${vvToJson(v.vv)} ${v.stamp}`]));
  }
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("edit" as const), site: fc.nat(2), path: fc.nat(2), content: fc.nat(4), ms: fc.integer({ min: 0, max: 4000 }) }),
  fc.record({ kind: fc.constant("delete" as const), site: fc.nat(2), path: fc.nat(2), ms: fc.integer({ min: 0, max: 4000 }) }),
  fc.record({ kind: fc.constant("send" as const), from: fc.nat(2), to: fc.nat(2), pick: fc.array(fc.nat(20), { maxLength: 6 }), dup: fc.boolean() }),
);

describe("convergence", () => {
  it("any edits, folders, deletes and partial, reordered, duplicated deliveries end identical, with no edit lost", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 60 }), async (ops) => {
        const reps = SITES.map((s) => new Replica(s));
        const created: FileVersion[] = [];
        for (const op of ops) {
          if (op.kind === "edit" || op.kind === "delete") {
            const v = reps[op.site]!.local(PATHS[op.path]!, op.kind === "edit" ? "wxyz/"[op.content]! : null, T0 + op.ms);
            if (v) created.push(v);
          } else if (op.from !== op.to) {
            const all = [...reps[op.from]!.files.values()];
            const batch = op.pick.map((i) => all[i % Math.max(all.length, 1)]).filter((v): v is FileVersion => v !== undefined);
            await reps[op.to]!.receive(op.dup ? [...batch, ...batch.reverse()] : batch);
          }
        }
        // Deliver everything until nothing changes (bounded).
        for (let round = 0; round < 20; round++) {
          let changed = 0;
          for (const from of reps) for (const to of reps) if (from !== to) changed += await to.receive([...from.files.values()]);
          if (changed === 0) break;
        }
        const snap = reps[0]!.snapshot();
        for (const r of reps) expect(r.snapshot()).toEqual(snap);
        // Every edit that no later version at its path saw is still somewhere (at its path or as a copy).
        const final = [...reps[0]!.files.values()];
        for (const e of created) {
          if (e.deleted) continue;
          const seen = created.some((o) => o !== e && o.path === e.path && compareVv(o.vv, e.vv) === "greater");
          if (!seen) expect(final.some((f) => !f.deleted && f.dir === e.dir && f.hash === e.hash && (f.path === e.path || isConflictCopy(f.path)))).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });
});
