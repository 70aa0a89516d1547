/**
 * The `scoutsync` command: parse, dispatch, turn failures into one line and an exit code
 * (2 = the command line is wrong, 1 = it was right but did not work). The same bundle is also
 * each child of `start`, run as `scoutsync __child KIND`.
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { PeerUrlSchema } from "../functions/wire/admin.js";
import { CHILD_KINDS, type ChildKind } from "./child-protocol.js";
import { adminPassword } from "./commands/admin.js";
import { CommandError } from "./commands/client.js";
import { peerAdd, peerList, peerRemove } from "./commands/peer.js";
import { statusCommand } from "./commands/status.js";
import { resolveDataDir, resolveStartConfig, UsageError, type StartFlags } from "./config.js";
import { usage } from "./usage.js";
import { VERSION } from "./version.js";

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  cwd: string;
}

const DATA = { data: { type: "string" } } as const satisfies ParseArgsOptionsConfig;
const JSON_FLAG = { json: { type: "boolean" } } as const satisfies ParseArgsOptionsConfig;
const START_FLAGS = {
  instance: { type: "string" },
  data: { type: "string" },
  db: { type: "string" },
  port: { type: "string" },
  host: { type: "string" },
  "db-port": { type: "string" },
  name: { type: "string" },
  "on-change": { type: "string" },
  "on-change-url": { type: "string" },
} as const satisfies ParseArgsOptionsConfig;

/** Runs one command; resolves with the exit code, or null for a child that runs until stopped. */
export async function main(argv: string[], io: CliIo): Promise<number | null> {
  if (argv[0] === "__child") return runChildCommand(argv[1]);
  try {
    return await dispatch(argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      const where = err.command === "" ? "scoutsync --help" : `scoutsync ${err.command} --help`;
      io.err(`scoutsync: ${err.message}; see ${where}`);
      return 2;
    }
    if (err instanceof CommandError) {
      io.err(`scoutsync: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

async function dispatch(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError("missing command", "");
  if (command === "--help" || command === "-h" || command === "help") return help("top", io);
  if (command === "--version" || command === "-v") {
    io.out(VERSION);
    return 0;
  }
  switch (command) {
    case "start":
      return start(rest, io);
    case "status": {
      if (wantsHelp(rest)) return help("status", io);
      const { values } = parse("status", rest, { ...DATA, ...JSON_FLAG }, []);
      return statusCommand(resolveDataDir(values.data, io.cwd, "status"), values.json === true, io.out);
    }
    case "peer":
      return peer(rest, io);
    case "admin":
      return admin(rest, io);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`, "");
  }
}

async function start(args: string[], io: CliIo): Promise<number> {
  if (wantsHelp(args)) return help("start", io);
  const { values } = parse("start", args, START_FLAGS, []);
  const config = resolveStartConfig(values satisfies StartFlags, io.cwd);
  // Loaded only for start: status and friends stay quick.
  const { runStart } = await import("./launcher.js");
  return runStart(config);
}

async function peer(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined) throw new UsageError("missing subcommand: add, list or remove", "peer");
  if (sub === "--help" || sub === "-h") return help("peer", io);
  const command = `peer ${sub}`;
  switch (sub) {
    case "add": {
      if (wantsHelp(rest)) return help(command, io);
      const { values, positionals } = parse(command, rest, { ...DATA, name: { type: "string" } }, ["URL"]);
      const url = PeerUrlSchema.safeParse(positionals[0]);
      if (!url.success) throw new UsageError(`URL ${url.error.issues[0]?.message ?? "is not a peer address"}`, command);
      if (values.name !== undefined && values.name.trim() === "") throw new UsageError("--name must not be empty", command);
      return peerAdd(resolveDataDir(values.data, io.cwd, command), url.data, values.name?.trim(), io.out);
    }
    case "list": {
      if (wantsHelp(rest)) return help(command, io);
      const { values } = parse(command, rest, { ...DATA, ...JSON_FLAG }, []);
      return peerList(resolveDataDir(values.data, io.cwd, command), values.json === true, io.out);
    }
    case "remove": {
      if (wantsHelp(rest)) return help(command, io);
      const { values, positionals } = parse(command, rest, DATA, ["ID"]);
      return peerRemove(resolveDataDir(values.data, io.cwd, command), positionals[0] ?? "", io.out);
    }
    default:
      throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}: use add, list or remove`, "peer");
  }
}

async function admin(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined) throw new UsageError("missing subcommand: password", "admin");
  if (sub === "--help" || sub === "-h") return help("admin", io);
  if (sub !== "password") throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}: use password`, "admin");
  if (wantsHelp(rest)) return help("admin password", io);
  const { values } = parse("admin password", rest, DATA, []);
  return adminPassword(resolveDataDir(values.data, io.cwd, "admin password"), io.out);
}

function help(command: string, io: CliIo): number {
  io.out(usage(command));
  return 0;
}

/** --help anywhere before a "--" wins over every other check, even an unknown flag. */
function wantsHelp(args: string[]): boolean {
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

/**
 * Strict parseArgs with our own one-line messages (Node's are long and mention internals),
 * and an exact number of positionals, named for the message when missing.
 */
function parse<T extends ParseArgsOptionsConfig>(command: string, args: string[], options: T, positionalNames: string[]) {
  let result;
  try {
    result = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(parseArgsMessage(err), command);
  }
  const { positionals } = result;
  if (positionals.length < positionalNames.length) throw new UsageError(`missing ${positionalNames[positionals.length]}`, command);
  if (positionals.length > positionalNames.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[positionalNames.length])}`, command);
  return result;
}

function parseArgsMessage(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const msg = e.message ?? String(err);
  const quoted = /'([^']+)'/.exec(msg)?.[1] ?? "";
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${quoted}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /argument missing/.test(msg) ? `${quoted.split(" ")[0]} needs a value` : `${quoted.split(" ")[0]} takes no value`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${quoted}`;
    default:
      return msg;
  }
}

async function runChildCommand(kind: string | undefined): Promise<number | null> {
  if (!CHILD_KINDS.includes(kind as ChildKind)) {
    process.stderr.write(`scoutsync: __child needs one of ${CHILD_KINDS.join(", ")}\n`);
    return 2;
  }
  const { runChild } = await import("./children.js");
  await runChild(kind as ChildKind);
  return null;
}

/** True when this module is the program (not imported by a test). */
function isEntry(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  const io: CliIo = {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    cwd: process.cwd(),
  };
  main(process.argv.slice(2), io).then(
    (code) => {
      // Exit only once stdout has drained: on macOS a pipe write can still be pending.
      if (code !== null) process.stdout.write("", () => process.exit(code));
    },
    (err: unknown) => {
      process.stderr.write(`scoutsync: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
