/**
 * Flags → validated configuration. Three stages so every error can name the flag it came from:
 * defaults are filled in as the strings a user would have typed, zod parses those strings, then
 * checks that need more than one flag run last. Pure: no file system, no network.
 */
import { isIP } from "node:net";
import { hostname as osHostname } from "node:os";
import path from "node:path";
import { z } from "zod";

/** A mistake on the command line: the CLI prints it with a pointer to `--help` and exits 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose `--help` explains the fix, e.g. "start" or "peer add". */
    readonly command: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

export interface StartConfig {
  instance: string;
  data: string;
  db: string;
  port: number;
  host: string;
  /** 0 = let the libSQL server pick a free port on 127.0.0.1. */
  dbPort: number;
  name: string;
  /** Shell command run after a batch of received files lands (the app reload hook). */
  onChange?: string | undefined;
  /** URL that gets POST {paths} after a batch of received files lands. */
  onChangeUrl?: string | undefined;
}

/** What parseArgs hands us for `start`: every value still a string, absent when not given. */
export interface StartFlags {
  instance?: string | undefined;
  data?: string | undefined;
  db?: string | undefined;
  port?: string | undefined;
  host?: string | undefined;
  "db-port"?: string | undefined;
  name?: string | undefined;
  "on-change"?: string | undefined;
  "on-change-url"?: string | undefined;
}

export const DEFAULT_PORT = 8787;
const PORT_HINT = "must be a port number from 1 to 65535";
// RFC 1123 host names; IP literals are checked with net.isIP instead.
const HOSTNAME_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
// Control characters would garble logs and the dashboard; the name is shown everywhere.
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

const portText = z
  .string()
  .regex(/^\s*\d{1,5}\s*$/, PORT_HINT)
  .transform(Number)
  .refine((n) => n >= 1 && n <= 65535, PORT_HINT);

const folder = z.string().refine((s) => s.trim() !== "", "must not be empty");

const StartFlagsSchema = z.object({
  instance: folder,
  data: folder,
  db: folder.optional(),
  port: portText,
  host: z
    .string()
    .refine((h) => isIP(h) !== 0 || HOSTNAME_RE.test(h), "must be an IP address or a host name, e.g. 0.0.0.0 or 127.0.0.1"),
  "db-port": portText.optional(),
  name: z
    .string()
    .transform((s) => s.trim())
    .refine((s) => s.length >= 1 && s.length <= 64, "must be 1 to 64 characters")
    .refine((s) => !CONTROL_RE.test(s), "must not contain control characters"),
  "on-change": z.string().refine((s) => s.trim() !== "", "must be a command, e.g. \"touch reload.flag\"").optional(),
  "on-change-url": z
    .string()
    .refine((s) => /^https?:\/\/[^\s]+$/i.test(s) && URL.canParse(s), "must be an http(s) URL, e.g. http://127.0.0.1:5000/reload")
    .optional(),
});

/** The site name when none is given: the machine's name, which is what people call the laptop. */
export function defaultSiteName(): string {
  const host = osHostname().split(".")[0]?.trim() ?? "";
  return host === "" ? "scoutsync" : host.slice(0, 64);
}

export function resolveStartConfig(flags: StartFlags, cwd: string, fallbackName = defaultSiteName()): StartConfig {
  const withDefaults = {
    instance: flags.instance ?? "./instance",
    data: flags.data ?? "./data",
    db: flags.db,
    port: flags.port ?? String(DEFAULT_PORT),
    host: flags.host ?? "0.0.0.0",
    "db-port": flags["db-port"],
    name: flags.name ?? fallbackName,
    "on-change": flags["on-change"],
    "on-change-url": flags["on-change-url"],
  };
  const parsed = StartFlagsSchema.safeParse(withDefaults);
  if (!parsed.success) throw usageFromZod(parsed.error, withDefaults, "start");
  const v = parsed.data;
  const data = path.resolve(cwd, v.data);
  const config: StartConfig = {
    instance: path.resolve(cwd, v.instance),
    data,
    db: v.db === undefined ? path.join(data, "app.db") : path.resolve(cwd, v.db),
    port: v.port,
    host: v.host,
    dbPort: v["db-port"] ?? 0,
    name: v.name,
    ...(v["on-change"] === undefined ? {} : { onChange: v["on-change"] }),
    ...(v["on-change-url"] === undefined ? {} : { onChangeUrl: v["on-change-url"] }),
  };
  validateStart(config);
  return config;
}

function validateStart(c: StartConfig): void {
  if (c.dbPort === c.port) {
    throw new UsageError(`--db-port ${c.dbPort} is the same as --port; the libSQL server and the worker need different ports`, "start");
  }
  if (c.instance === c.data) {
    throw new UsageError(`--instance and --data are the same folder (${c.data}); scoutsync's own files must not be synced`, "start");
  }
  if (isInside(c.data, c.instance)) {
    throw new UsageError(`--data (${c.data}) is inside --instance (${c.instance}); its files would be synced to every peer`, "start");
  }
  if (isInside(c.db, c.instance)) {
    // Not fatal in principle (db files are always excluded), but the watch on the WAL would
    // fight with the instance watcher; refusing early is clearer than subtle echo.
    throw new UsageError(`--db (${c.db}) is inside --instance (${c.instance}); keep the database outside the synced folder`, "start");
  }
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

/** `--data` for every command but start. */
export function resolveDataDir(flag: string | undefined, cwd: string, command: string): string {
  const raw = flag ?? "./data";
  if (raw.trim() === "") throw new UsageError("--data must not be empty", command);
  return path.resolve(cwd, raw);
}

function usageFromZod(error: z.ZodError, input: Record<string, string | undefined>, command: string): UsageError {
  const issue = error.issues[0];
  const key = String(issue?.path[0] ?? "");
  const given = input[key];
  const shown = given === undefined ? "" : ` (got ${JSON.stringify(given)})`;
  return new UsageError(`--${key} ${issue?.message ?? "is invalid"}${shown}`, command);
}

/**
 * The address to dial to reach a server bound to `host` from this machine: a wildcard bind
 * answers on loopback, a specific address only on itself.
 */
export function dialHost(host: string): string {
  if (host === "0.0.0.0" || host === "localhost") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}

/** `host:port` for a URL, bracketing IPv6 literals. */
export function urlAuthority(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
