/**
 * The worker's bindings, parsed once per isolate. The same build runs under Miniflare on a
 * laptop (LIBSQL_URL points at the agent's embedded server) and on Cloudflare against Turso.
 */
import { z } from "zod";

export const EnvSchema = z.object({
  LIBSQL_URL: z.string().url({ message: "LIBSQL_URL must be the URL of a libSQL server (http://127.0.0.1:PORT, or a Turso libsql:// URL)" }),
  LIBSQL_AUTH_TOKEN: z.string().optional(),
  /** scoutsync's own database; defaults to the app database (a relay has only one). */
  LIBSQL_STATE_URL: z.string().url().optional(),
  /** The local agent and CLI present this token; without it only loopback callers are trusted. */
  ADMIN_TOKEN: z.string().min(16).optional(),
  SITE_NAME: z.string().default("scoutsync"),
  SITE_PORT: z.coerce.number().int().optional(),
  DB_PORT: z.coerce.number().int().optional(),
  SCOUTSYNC_VERSION: z.string().default("0.0.0"),
  /** When the site started (ms since the epoch): its uptime outlives a restarted workerd. Without it, the isolate's start. */
  SITE_STARTED_AT: z.coerce.number().int().nonnegative().optional(),
});

export type Env = z.input<typeof EnvSchema>;
export type Config = z.output<typeof EnvSchema>;

export function parseEnv(env: unknown): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`worker configuration: ${issue?.path.join(".") || "env"}: ${issue?.message}`);
  }
  return parsed.data;
}
