/**
 * How a CLI command reaches its running site: runtime.json says where it listens, the admin
 * token proves we are local. Failures become CommandError (one line, exit 1).
 */
import { callLocal, retryRefused, type LocalResponse, type LocalTarget } from "../http.js";
import { isAlive } from "../procs.js";
import { readAdminToken, readRuntime, dataFiles, type RuntimeInfo } from "../runtime.js";

/** A failure to report as `scoutsync: MESSAGE` with exit code 1. */
export class CommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CommandError";
  }
}

export interface SiteHandle {
  runtime: RuntimeInfo;
  target: LocalTarget;
  call(method: "GET" | "POST" | "DELETE", pathname: string, body?: unknown): Promise<LocalResponse>;
}

export function openSite(data: string): SiteHandle {
  const runtime = readRuntime(data);
  if (runtime === null || !isAlive(runtime.pid)) {
    throw new CommandError(`no site is running for data folder ${data} (start it with scoutsync start)`);
  }
  const token = readAdminToken(data);
  if (token === null) throw new CommandError(`cannot read the admin token ${dataFiles(data).token}; are you the user who started the site?`);
  const target: LocalTarget = { host: runtime.host, port: runtime.port, token };
  return {
    runtime,
    target,
    call: async (method, pathname, body) => {
      try {
        // The site is running: a refused connection is its worker restarting, for a moment.
        return await retryRefused(() => callLocal(target, method, pathname, body, 15_000));
      } catch (err) {
        const cause = (err as Error & { cause?: { code?: string } }).cause?.code;
        throw new CommandError(
          `the site for data folder ${data} (pid ${runtime.pid}) does not answer on port ${runtime.port}: ${cause ?? (err as Error).message}`,
        );
      }
    },
  };
}
