/**
 * sameState (functions/db/row-state.ts) against the canonical text it replaced in the apply:
 * two states are the same exactly when their normalized JSON texts are equal; and the merge
 * it judges stays a join (commutative, idempotent) with its shortcut for equal values.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mergeStates, normalize, sameState, type RowState } from "../../functions/db/row-state.js";
import type { Val } from "../../functions/db/values.js";

/** The canonical text of a state: what the apply compared before sameState. */
function canonical(s: RowState): string {
  const n = normalize(s);
  // fromEntries defines properties: a column called __proto__ stays a column.
  const vals = Object.fromEntries(Object.keys(n.vals).sort().map((col) => [col, n.vals[col] ?? null]));
  return JSON.stringify([n.ins, n.clk, n.del, vals]);
}

const STAMPS = ["1", "2", "3"].map((d) => d.padStart(32, "0"));
// Names every object inherits, one of them its prototype's: a column may be called so.
const COLS = ["a", "constructor", "__proto__"];
// Few values, so that equal ones come up often; the reference twice, in both key orders.
const VALS: Val[] = [null, "x", "y", "", 0, 1, { i: "9007199254740993" }, { f: 1.5 }, { f: "Infinity" }, { b: "AA==" }, { r: "g1", t: "teams" }, { t: "teams", r: "g1" }];

const stamp = fc.constantFrom(...STAMPS);
const state: fc.Arbitrary<RowState> = fc.record({
  ins: stamp,
  // Stamps for columns the state may not hold, and equal to `ins`: both vanish when normalized.
  clk: fc.dictionary(fc.constantFrom(...COLS), stamp),
  del: fc.option(stamp, { nil: null }),
  vals: fc.dictionary(fc.constantFrom(...COLS), fc.constantFrom(...VALS)),
});

/** The same state built in another order: keys inserted in reverse. */
function reordered(s: RowState): RowState {
  const rev = <T,>(o: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(o).reverse());
  return { ins: s.ins, clk: rev(s.clk), del: s.del, vals: rev(s.vals) };
}

describe("sameState", () => {
  it("agrees with comparing canonical texts, for random pairs, merges and rebuilt copies", () => {
    fc.assert(
      fc.property(state, state, (a, b) => {
        const m = mergeStates(a, b);
        for (const [x, y] of [[a, b], [m, a], [m, b], [a, reordered(a)], [a, normalize(a)], [m, mergeStates(b, a)]] as const) {
          expect(sameState(x, y)).toBe(canonical(x) === canonical(y));
          expect(sameState(y, x)).toBe(sameState(x, y));
        }
        // The merge is a join: whichever side it starts from, and merging again changes nothing.
        expect(canonical(mergeStates(b, a))).toBe(canonical(m));
        expect(canonical(mergeStates(m, a))).toBe(canonical(m));
      }),
      { seed: 20261203, numRuns: 2000 },
    );
  });

  it("ignores stamps equal to the insert's and stamps of columns the state does not hold, and nothing else", () => {
    const s: RowState = { ins: STAMPS[0]!, clk: { b: STAMPS[1]! }, del: null, vals: { a: "x", b: 1 } };
    expect(sameState(s, { ...s, clk: { a: STAMPS[0]!, b: STAMPS[1]!, c: STAMPS[2]! } })).toBe(true);
    expect(sameState(s, { ...s, clk: {} }), "b's own stamp").toBe(false);
    expect(sameState(s, { ...s, del: STAMPS[0]! })).toBe(false);
    expect(sameState(s, { ...s, vals: { a: "x", b: 1, c: null } }), "a column more, even null").toBe(false);
    expect(sameState(s, { ...s, vals: { a: "x", b: { i: "1" } } }), "1 and {i: '1'} are different values").toBe(false);
    expect(sameState({ ...s, vals: { a: { b: "AA==" }, b: 1 } }, { ...s, vals: { a: { b: "AA==" }, b: 1 } }), "equal objects, not the same object").toBe(true);
  });
});
