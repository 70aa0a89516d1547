/** Wire bodies of the database endpoints (/api/sync/database/*). */
import { z } from "zod";
import { SiteIdSchema } from "../clock/hlc.js";
import { RowStateSchema } from "../db/row-state.js";

export const MAX_CHANGES_PER_BATCH = 10_000;
/** The largest change batch a site accepts, in bytes of JSON. */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;
/** A page of changes stops growing past this many bytes of values (blobs count as base64), well under MAX_BATCH_BYTES. */
export const PAGE_VALUE_BYTES = 16 * 1024 * 1024;

export const RowChangeSchema = z.object({
  /** Table name. */
  t: z.string().min(1).max(1000),
  /** Row identity. */
  g: z.string().min(1).max(4000),
  s: RowStateSchema,
});
export type RowChange = z.infer<typeof RowChangeSchema>;

export const ChangeBatchSchema = z.object({
  from: SiteIdSchema,
  /** The other sites the sender delivers this batch to (they need not hear it from the receiver). */
  also: z.array(SiteIdSchema).max(4096).optional(),
  changes: z.array(RowChangeSchema).max(MAX_CHANGES_PER_BATCH, `at most ${MAX_CHANGES_PER_BATCH} changes per batch`),
});
export type ChangeBatch = z.infer<typeof ChangeBatchSchema>;

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
