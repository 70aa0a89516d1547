/** Wire bodies of the database endpoints (/api/sync/database/*). */
import { z } from "zod";
import { SiteIdSchema } from "../clock/hlc.js";
import { checkedBy, isRecord, rowStateProblems, type Problem, type RowState } from "../db/row-state.js";

export const MAX_CHANGES_PER_BATCH = 10_000;
/** The largest change batch a site accepts, in bytes of JSON. */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/** A page of changes stops growing past this many bytes of values (blobs count as base64), well under MAX_BATCH_BYTES. */
export const PAGE_VALUE_BYTES = 16 * 1024 * 1024;

export interface RowChange {
  /** Table name. */
  t: string;
  /** Row identity. */
  g: string;
  s: RowState;
}

const textProblem = (v: unknown, max: number): string | null =>
  typeof v !== "string" ? "expected text" : v.length < 1 || v.length > max ? `must be 1 to ${max} characters` : null;

/** What is wrong with a received change (by hand, as rowStateProblems and for the same reason). */
function changeProblems(v: unknown): Problem[] {
  if (!isRecord(v)) return [{ path: [], message: "expected an object" }];
  const out: Problem[] = [];
  const t = textProblem(v.t, 1000);
  if (t !== null) out.push({ path: ["t"], message: t });
  const g = textProblem(v.g, 4000);
  if (g !== null) out.push({ path: ["g"], message: g });
  for (const p of rowStateProblems(v.s)) out.push({ path: ["s", ...p.path], message: p.message });
  return out;
}

export const RowChangeSchema = checkedBy<RowChange>(changeProblems);

export const ChangeBatchSchema = z.object({
  from: SiteIdSchema,
  /** The other sites the sender delivers this batch to (they need not hear it from the receiver). */
  also: z.array(SiteIdSchema).max(4096).optional(),
  changes: z.array(RowChangeSchema).max(MAX_CHANGES_PER_BATCH, `at most ${MAX_CHANGES_PER_BATCH} changes per batch`),
});
export type ChangeBatch = z.infer<typeof ChangeBatchSchema>;

/** POST /capture?pending=1: the agent saw writes waiting for capture (see captureLocal). */
export const CaptureQuerySchema = z.object({
  pending: z.enum(["1"], { error: "pending must be 1 when given" }).optional(),
});

export const ChangesQuerySchema = z.object({
  since: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().min(1).max(MAX_CHANGES_PER_BATCH).default(1000),
  /** The reader's site id: rows it sent us, unchanged since, are left out. */
  for: SiteIdSchema.optional(),
  /** How far the reader has applied our changes (its pull checkpoint): our pushes to it skip that far. */
  applied: z.coerce.number().int().nonnegative().optional(),
});

export const ChangesPageSchema = z.object({
  site: SiteIdSchema,
  /** Sequence of the last change in this page (the next `since`). */
  last: z.number().int().nonnegative(),
  /** The sender's newest sequence: how far behind the caller is. */
  head: z.number().int().nonnegative(),
  more: z.boolean(),
  changes: z.array(RowChangeSchema),
});
export type ChangesPage = z.infer<typeof ChangesPageSchema>;

export const ApplyResultSchema = z.object({
  applied: z.number().int(),
  unchanged: z.number().int(),
  parked: z.number().int(),
  /** Nothing applied: the receiver is pulling from the sender and fetches these itself. */
  deferred: z.boolean().optional(),
});
export type ApplyResult = z.infer<typeof ApplyResultSchema>;
