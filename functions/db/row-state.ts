/**
 * The replicated state of one row and its merge.
 *
 * Per-column last-writer-wins by stamp, plus an existence clock (`ins`, the last insert) and a
 * tombstone (`del`). A row is alive when some write is strictly later than its delete, so a
 * delete loses to a later edit and a re-insert revives the row. Values of a dead row are kept
 * (they still merge per column), which makes the merge a join: commutative, associative and
 * idempotent, so any delivery order, duplicate or retry converges.
 */
import { z } from "zod";
import { STAMP_RE, maxStamp, type Stamp } from "../clock/hlc.js";
import { setOwn } from "../util/own-key.js";
import { valKey, valProblem, type Val } from "./values.js";

export interface RowState {
  /** Stamp of the last insert of this row: every column was written then. */
  ins: Stamp;
  /** Stamps of columns written after `ins` (columns absent here carry `ins`). */
  clk: Record<string, Stamp>;
  /** Stamp of the last delete, or null. */
  del: Stamp | null;
  /** Every column value, whether the row is alive or not. */
  vals: Record<string, Val>;
}

/** Where a received value is wrong, and how: the path is relative to what was checked. */
export interface Problem {
  path: PropertyKey[];
  message: string;
}

const STAMP_MESSAGE = "stamp must be 32 lowercase hex digits";

const isStamp = (v: unknown): boolean => typeof v === "string" && STAMP_RE.test(v);

/** A JSON object (not null, not an array). */
export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * What is wrong with a received row state, checked by hand: a page carries thousands of them
 * with a stamp and a value per column, and walking each through zod's object and record
 * machinery (which also copies every object) was a fifth of a catch-up's CPU in the receiving
 * worker (B8). Unknown fields are ignored, as zod's objects do.
 */
export function rowStateProblems(v: unknown): Problem[] {
  if (!isRecord(v)) return [{ path: [], message: "expected an object" }];
  const out: Problem[] = [];
  if (!isStamp(v.ins)) out.push({ path: ["ins"], message: STAMP_MESSAGE });
  if (v.del !== null && !isStamp(v.del)) out.push({ path: ["del"], message: `${STAMP_MESSAGE}, or null` });
  if (!isRecord(v.clk)) out.push({ path: ["clk"], message: "expected an object" });
  else for (const [k, c] of Object.entries(v.clk)) if (!isStamp(c)) out.push({ path: ["clk", k], message: STAMP_MESSAGE });
  if (!isRecord(v.vals)) out.push({ path: ["vals"], message: "expected an object" });
  else
    for (const [k, val] of Object.entries(v.vals)) {
      const p = valProblem(val);
      if (p !== null) out.push({ path: ["vals", k], message: p });
    }
  return out;
}

/** A zod schema whose check is `problems`: still zod at the boundary (issues, paths, safeParse), without its per-field cost. */
export function checkedBy<T>(problems: (v: unknown) => Problem[]): z.ZodType<T> {
  return z.custom<T>().superRefine((v, ctx) => {
    for (const p of problems(v)) ctx.addIssue({ code: "custom", message: p.message, path: p.path });
  });
}

/**
 * A column's stamp, or null when the state does not hold the column. Own properties only: a
 * column may be named `constructor` or `valueOf`, which every object inherits.
 */
export function colStamp(s: RowState, col: string): Stamp | null {
  if (!Object.hasOwn(s.vals, col)) return null;
  return (Object.hasOwn(s.clk, col) ? s.clk[col] : undefined) ?? s.ins;
}

/** The newest write to the row (inserts and column updates, not deletes). */
export function lastWrite(s: RowState): Stamp {
  let m = s.ins;
  for (const c of Object.values(s.clk)) if (c > m) m = c;
  return m;
}

export function isAlive(s: RowState): boolean {
  return s.del === null || lastWrite(s) > s.del;
}

/** A freshly inserted row: every column stamped with `at`. */
export function insertedState(vals: Record<string, Val>, at: Stamp): RowState {
  return { ins: at, clk: {}, del: null, vals: { ...vals } };
}

/** A local update of some columns. */
export function updatedState(s: RowState, changed: Record<string, Val>, at: Stamp): RowState {
  const next: RowState = { ins: s.ins, clk: { ...s.clk }, del: s.del, vals: { ...s.vals } };
  for (const [col, v] of Object.entries(changed)) {
    setOwn(next.vals, col, v);
    setOwn(next.clk, col, at);
  }
  return normalize(next);
}

/** A local re-insert over an existing identity: all columns written at `at`. */
export function reinsertedState(s: RowState, vals: Record<string, Val>, at: Stamp): RowState {
  // Columns this insert did not write (ones this site does not have) keep their own stamps.
  const clk: Record<string, Stamp> = {};
  for (const col of Object.keys(s.vals)) if (!Object.hasOwn(vals, col)) setOwn(clk, col, colStamp(s, col) as Stamp);
  return normalize({ ins: at, clk, del: s.del, vals: { ...s.vals, ...vals } });
}

/** The row written into existence again at `at`, every column keeping its own stamp and value. */
export function revivedState(s: RowState, at: Stamp): RowState {
  const clk: Record<string, Stamp> = {};
  for (const col of Object.keys(s.vals)) setOwn(clk, col, colStamp(s, col) as Stamp);
  return normalize({ ins: at, clk, del: s.del, vals: s.vals });
}

export function deletedState(s: RowState, lastVals: Record<string, Val> | null, at: Stamp): RowState {
  return { ...s, vals: lastVals ? { ...s.vals, ...lastVals } : { ...s.vals }, del: maxStamp(s.del, at) };
}

/** Joins two states of the same row. */
export function mergeStates(a: RowState, b: RowState): RowState {
  const out: RowState = { ins: a.ins >= b.ins ? a.ins : b.ins, clk: {}, del: maxStamp(a.del, b.del), vals: {} };
  const cols = new Set([...Object.keys(a.vals), ...Object.keys(b.vals)]);
  for (const col of cols) {
    const sa = colStamp(a, col);
    const sb = colStamp(b, col);
    let pick: RowState;
    if (sa === null) pick = b;
    else if (sb === null) pick = a;
    else if (sa !== sb) pick = sa > sb ? a : b;
    // Equal stamps mean the same write, nearly always the same value (compared by identity
    // first: encoding both was most of a catch-up's merging); differing values would be a bug
    // elsewhere, but the larger encoding wins so that replicas still agree.
    else pick = sameVal(a.vals[col] ?? null, b.vals[col] ?? null) || valKey(a.vals[col] ?? null) >= valKey(b.vals[col] ?? null) ? a : b;
    setOwn(out.vals, col, pick.vals[col] ?? null);
    setOwn(out.clk, col, colStamp(pick, col) as Stamp);
  }
  return normalize(out);
}

/** Drops per-column stamps equal to `ins`, so equal states have equal encodings. */
export function normalize(s: RowState): RowState {
  const clk: Record<string, Stamp> = {};
  for (const col of Object.keys(s.clk).sort()) {
    const st = s.clk[col] as Stamp;
    if (Object.hasOwn(s.vals, col) && st !== s.ins) setOwn(clk, col, st);
  }
  return { ins: s.ins, clk, del: s.del, vals: s.vals };
}

/**
 * Whether two states are the same once normalized: the same insert and delete stamps, the same
 * columns, and per column the same stamp and value. An apply asks it of every received row (its
 * merge against what was here and against what came); it compared canonical JSON texts of the
 * whole state before, three per row, a large part of a catch-up's garbage (B8).
 */
export function sameState(a: RowState, b: RowState): boolean {
  if (a === b) return true;
  if (a.ins !== b.ins || a.del !== b.del) return false;
  const cols = Object.keys(a.vals);
  if (cols.length !== Object.keys(b.vals).length) return false;
  for (const col of cols) {
    if (colStamp(a, col) !== colStamp(b, col)) return false;
    if (!sameVal(a.vals[col] ?? null, b.vals[col] ?? null)) return false;
  }
  return true;
}

/** Equal values: the same primitive, or objects (a blob, a big integer, a reference) with the same encoding. */
export function sameVal(a: Val, b: Val): boolean {
  return a === b || (a !== null && b !== null && typeof a === "object" && typeof b === "object" && valKey(a) === valKey(b));
}

/** The highest stamp anywhere in the state, to move the local clock past it. */
export function maxStampOf(s: RowState): Stamp {
  const w = lastWrite(s);
  return s.del !== null && s.del > w ? s.del : w;
}
