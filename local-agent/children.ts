/**
 * Entry points of the three children (`scoutsync __child db|worker|agent`). Each starts its
 * part, prints the ready line, and exits cleanly on SIGTERM or when the launcher disappears
 * (its end of our stdin closes even when it is killed with SIGKILL), so nothing outlives it.
 */
import { CHILD_CONFIG_ENV, ChildConfigSchema, fatalLine, readyLine, type ChildConfig, type ChildKind } from "./child-protocol.js";
import { dataFiles, readAdminToken } from "./runtime.js";

interface Started {
  info: Record<string, unknown>;
  close(): Promise<void>;
}

export async function runChild(kind: ChildKind): Promise<void> {
  // With the launcher gone there is nobody to read our logs; an EPIPE must not crash cleanup.
  process.stdout.on("error", () => undefined);
  process.stderr.on("error", () => undefined);

  let starting: Promise<Started> | null = null;
  let shuttingDown = false;
  const shutdown = (why: string): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    if (why !== "SIGTERM") console.error(`stopping: ${why}`);
    // Wait for a start in progress, or its resources (workerd, the listening socket) leak.
    void (starting ?? Promise.reject(new Error("not started")))
      .then((s) => s.close())
      .catch(() => undefined)
      .finally(() => process.exit(0));
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  watchLauncher(shutdown);

  try {
    const config = readChildConfig();
    const token = readAdminToken(config.site.data);
    if (token === null) throw new Error(`no admin token in ${dataFiles(config.site.data).token}`);
    starting = startKind(kind, config, token);
    const started = await starting;
    if (!shuttingDown) process.stdout.write(`${readyLine(started.info)}\n`);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stdout.write(`${fatalLine(message)}\n`);
    console.error(err instanceof Error && err.stack ? err.stack : message);
    process.exitCode = 1;
    // Flush the lines above before leaving; exit() would drop buffered pipe writes.
    setTimeout(() => process.exit(1), 50);
  }
}

function readChildConfig(): ChildConfig {
  const raw = process.env[CHILD_CONFIG_ENV];
  if (raw === undefined) throw new Error(`${CHILD_CONFIG_ENV} is not set; children are started by scoutsync start`);
  return ChildConfigSchema.parse(JSON.parse(raw));
}

/**
 * The launcher keeps our stdin open for as long as it lives. EOF means it is gone; a changed
 * ppid (re-parented to init) is a second, independent signal in case stdin was redirected.
 */
function watchLauncher(onGone: (why: string) => void): void {
  process.stdin.on("end", () => onGone("the launcher closed our stdin"));
  process.stdin.on("error", () => onGone("the launcher's pipe broke"));
  process.stdin.resume();
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) onGone("the launcher is gone");
  }, 1_000).unref();
}

async function startKind(kind: ChildKind, config: ChildConfig, token: string): Promise<Started> {
  switch (kind) {
    case "db":
      return startDb(config);
    case "worker": {
      const { startWorkerHost } = await import("./worker-host.js");
      // A restarted workerd is announced like the first: the launcher keeps its pid for `stop`.
      const host = await startWorkerHost(config, token, (pid) => process.stdout.write(`${readyLine({ url: host.url, workerdPid: pid })}\n`));
      return { info: { url: host.url, workerdPid: host.workerdPid }, close: () => host.close() };
    }
    case "agent": {
      const { startAgentChild } = await import("./agent-child.js");
      const { startFileSync } = await import("./files/file-sync.js");
      const agent = await startAgentChild(config, token);
      const files = await startFileSync(config, token, (line) => console.error(line));
      return { info: { chunkPort: files.chunks.port }, close: async () => void (await Promise.all([files.stop(), agent.stop()])) };
    }
  }
}

async function startDb(config: ChildConfig): Promise<Started> {
  const { startLibsqlServer } = await import("./libsql-server/index.js");
  const { processHeap } = await import("./collect.js");
  const server = await startLibsqlServer({
    databases: { app: config.site.db, state: dataFiles(config.site.data).state },
    defaultDatabase: "app",
    host: "127.0.0.1",
    port: config.dbPort,
    log: (line: string) => console.log(line),
    // A catch-up's request bodies leave tens of MB of garbage that an idle server never collects (B7).
    onQuiet: () => processHeap.collectAfterWork(),
  });
  return {
    info: { port: server.port, urls: { app: server.url(), state: server.url("state") } },
    close: () => server.close(),
  };
}
