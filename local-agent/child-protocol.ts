/**
 * What the launcher and its children say to each other. Children are the same bundle run as
 * `__child KIND` with this config as JSON in an env var; each answers with one JSON line on
 * stdout when it is ready (or a fatal line before giving up). Everything else on its stdout and
 * stderr is ordinary log text the launcher forwards with a prefix.
 */
import { z } from "zod";

export const CHILD_KINDS = ["db", "worker", "agent"] as const;
export type ChildKind = (typeof CHILD_KINDS)[number];
export const CHILD_CONFIG_ENV = "SCOUTSYNC_CHILD_CONFIG";

export const ChildConfigSchema = z.object({
  site: z.object({
    instance: z.string(),
    data: z.string(),
    db: z.string(),
    port: z.number().int(),
    host: z.string(),
    dbPort: z.number().int(),
    name: z.string(),
    onChange: z.string().optional(),
    onChangeUrl: z.string().optional(),
  }),
  /** The libSQL server's port: 0 until the first db child has picked one, then fixed. */
  dbPort: z.number().int().min(0),
  /** Set once the db child reported them; the worker and agent need them. */
  dbUrls: z.object({ app: z.string(), state: z.string() }).optional(),
  scriptPath: z.string(),
  version: z.string(),
});
export type ChildConfig = z.infer<typeof ChildConfigSchema>;

const READY_TAG = "ready";
const FATAL_TAG = "fatal";

export const ChildLineSchema = z.discriminatedUnion("scoutsync", [
  z.object({ scoutsync: z.literal(READY_TAG), pid: z.number().int() }).catchall(z.unknown()),
  z.object({ scoutsync: z.literal(FATAL_TAG), message: z.string() }),
]);
export type ChildLine = z.infer<typeof ChildLineSchema>;

/** What the db child's ready line carries beyond the pid. */
export const DbReadySchema = z.object({
  port: z.number().int().min(1).max(65535),
  urls: z.object({ app: z.string(), state: z.string() }),
});
export type ReadyLine = Extract<ChildLine, { scoutsync: "ready" }>;

/** A protocol line, or null for ordinary log text. Cheap prefix test first: most lines are logs. */
export function parseChildLine(line: string): ChildLine | null {
  if (!line.startsWith('{"scoutsync":')) return null;
  try {
    const parsed = ChildLineSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export function readyLine(extra: Record<string, unknown>): string {
  return JSON.stringify({ scoutsync: READY_TAG, pid: process.pid, ...extra });
}

export function fatalLine(message: string): string {
  return JSON.stringify({ scoutsync: FATAL_TAG, message });
}
