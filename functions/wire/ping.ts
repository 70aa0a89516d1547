import { z } from "zod";
import { SiteIdSchema } from "../clock/hlc.js";

export const PingSchema = z.object({
  site: SiteIdSchema,
  name: z.string(),
  version: z.string(),
  clock: z.object({ wallMs: z.number(), hlc: z.string() }),
  uptime: z.number().nonnegative(),
  /** Newest sequence of our database rows and of our file versions: a peer whose checkpoints are there has nothing to pull. */
  seq: z.number().int().nonnegative(),
  filesSeq: z.number().int().nonnegative(),
});
export type Ping = z.infer<typeof PingSchema>;

/** Every error body the API returns: a machine-readable code and a sentence for people. */
export const ErrorBodySchema = z.object({
  error: z.string(),
  code: z.string(),
  hint: z.string().optional(),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;
