/**
 * The Syncthing anchor: two instances of Debian's /usr/bin/syncthing on loopback, each with its
 * own home, introduced to each other by static tcp://127.0.0.1 addresses and sharing one
 * folder. Everything that could leave the machine is off: global and local discovery, relays,
 * NAT traversal, STUN, usage reporting (urAccepted=-1), crash reporting, upgrades. The folder's
 * fsWatcherDelayS is changed at run time through the REST API.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { freePort } from "../local-agent/ports.js";
import { sleep, waitFor } from "./wait.js";

export const SYNCTHING = "/usr/bin/syncthing";
export const SYNCTHING_MISSING = "skipped: install with apt-get install -y syncthing";
const FOLDER_ID = "bench";

export function syncthingAvailable(): boolean {
  return existsSync(SYNCTHING);
}

export function syncthingVersion(): string {
  try {
    return execFileSync(SYNCTHING, ["--version"], { encoding: "utf8", timeout: 10_000 }).trim().split(" ").slice(0, 2).join(" ");
  } catch {
    return "unknown";
  }
}

interface Node {
  name: string;
  home: string;
  folder: string;
  gui: number;
  listen: number;
  apiKey: string;
  id: string;
  proc: ChildProcess | null;
  log: string;
}

export class SyncthingPair {
  /** The folder's current fsWatcherDelayS on both sides. */
  delayS = 10;

  private constructor(
    readonly a: Node,
    readonly b: Node,
  ) {}

  /** Generates both homes, writes their configs, starts both and waits until they are connected and idle. */
  static async start(root: string, delayS = 10): Promise<SyncthingPair> {
    const make = async (name: string): Promise<Node> => {
      const home = path.join(root, `syncthing-${name}`);
      const folder = path.join(root, `folder-${name}`);
      mkdirSync(folder, { recursive: true });
      execFileSync(SYNCTHING, ["generate", `--home=${home}`, "--no-default-folder", "--skip-port-probing"], { stdio: "pipe", timeout: 60_000, env: envFor(home) });
      const id = execFileSync(SYNCTHING, ["serve", `--home=${home}`, "--device-id"], { encoding: "utf8", timeout: 30_000, env: envFor(home) }).trim();
      return { name, home, folder, gui: await freePort(), listen: await freePort(), apiKey: randomBytes(16).toString("hex"), id, proc: null, log: "" };
    };
    const pair = new SyncthingPair(await make("a"), await make("b"));
    pair.delayS = delayS;
    for (const [self, other] of [
      [pair.a, pair.b],
      [pair.b, pair.a],
    ] as const) {
      writeFileSync(path.join(self.home, "config.xml"), configXml(self, other, delayS));
    }
    try {
      pair.spawn(pair.a);
      pair.spawn(pair.b);
      for (const n of [pair.a, pair.b]) await waitFor(`syncthing ${n.name} to answer`, () => pair.rest(n, "GET", "/rest/system/ping").then(() => true, () => false), 60_000, 200);
      await pair.waitConnected();
      await pair.waitIdle();
    } catch (err) {
      await pair.stop();
      throw err;
    }
    return pair;
  }

  private spawn(n: Node): void {
    const proc = spawn(SYNCTHING, ["serve", `--home=${n.home}`, "--no-browser", "--no-restart", "--no-upgrade", "--logflags=0"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: envFor(n.home),
    });
    const keep = (d: string) => (n.log = (n.log + d).slice(-32 * 1024));
    proc.stdout!.setEncoding("utf8").on("data", keep);
    proc.stderr!.setEncoding("utf8").on("data", keep);
    n.proc = proc;
  }

  async rest(n: Node, method: string, pathname: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`http://127.0.0.1:${n.gui}${pathname}`, {
      method,
      headers: { "X-API-Key": n.apiKey, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`syncthing ${n.name} ${method} ${pathname}: HTTP ${res.status} ${text.slice(0, 200)}`);
    return text === "" ? null : (JSON.parse(text) as unknown);
  }

  async waitConnected(timeoutMs = 60_000): Promise<void> {
    for (const [self, other] of [
      [this.a, this.b],
      [this.b, this.a],
    ] as const) {
      await waitFor(
        `syncthing ${self.name} to connect to ${other.name}`,
        async () => {
          const c = (await this.rest(self, "GET", "/rest/system/connections")) as { connections: Record<string, { connected: boolean }> };
          return c.connections[other.id]?.connected === true;
        },
        timeoutMs,
        200,
      );
    }
  }

  /** Both sides idle with nothing left to pull. */
  async waitIdle(timeoutMs = 120_000): Promise<void> {
    await waitFor(
      "both syncthing folders to be idle",
      async () => {
        for (const n of [this.a, this.b]) {
          const s = (await this.rest(n, "GET", `/rest/db/status?folder=${FOLDER_ID}`)) as { state: string; needFiles: number; needDeletes: number };
          if (s.state !== "idle" || s.needFiles !== 0 || s.needDeletes !== 0) return false;
        }
        return true;
      },
      timeoutMs,
      250,
    );
  }

  /** Sets the watcher delay on both sides (Syncthing applies it by restarting the folder). */
  async setDelay(seconds: number): Promise<void> {
    if (seconds === this.delayS) return;
    for (const n of [this.a, this.b]) await this.rest(n, "PATCH", `/rest/config/folders/${FOLDER_ID}`, { fsWatcherDelayS: seconds });
    this.delayS = seconds;
    await sleep(1000);
    await this.waitIdle();
  }

  pids(n: Node): number[] {
    return n.proc?.pid !== undefined && n.proc.exitCode === null ? [n.proc.pid] : [];
  }

  async stop(): Promise<void> {
    await Promise.all(
      [this.a, this.b].map(async (n) => {
        const proc = n.proc;
        if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
        proc.kill("SIGTERM");
        const done = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
        if (!done) proc.kill("SIGKILL");
        await Promise.race([exited, sleep(2000)]);
      }),
    );
  }

  killNow(): void {
    for (const n of [this.a, this.b]) if (n.proc && n.proc.exitCode === null) n.proc.kill("SIGKILL");
  }
}

/** Its own HOME, so nothing under the real user's ~/.config is read or written. */
function envFor(home: string): NodeJS.ProcessEnv {
  return { ...process.env, HOME: home, STNODEFAULTFOLDER: "1", STNOUPGRADE: "1", STNORESTART: "1", STNOUPGRADECHECK: "1" };
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function device(n: Node): string {
  return `    <device id="${n.id}" name="${n.name}" compression="metadata" introducer="false" skipIntroductionRemovals="false" introducedBy="">
        <address>tcp://127.0.0.1:${n.listen}</address>
        <paused>false</paused>
        <autoAcceptFolders>false</autoAcceptFolders>
    </device>`;
}

/**
 * A whole config.xml (version 36, Syncthing 1.19): defaults everywhere except what keeps it on
 * loopback and offline, and a reconnection interval of 5 s instead of 60 so the two find each
 * other at start without a minute's wait (it does not affect how fast a change travels).
 * An element left out of the XML reads as zero, not as the GUI's default: maxConflicts must be
 * spelled out (0 would disable conflict copies), as checked against /rest/config/defaults/folder.
 */
export function configXml(self: Node, other: Node, delayS: number): string {
  return `<configuration version="36">
    <folder id="${FOLDER_ID}" label="${FOLDER_ID}" path="${xmlEscape(self.folder)}" type="sendreceive" rescanIntervalS="3600" fsWatcherEnabled="true" fsWatcherDelayS="${delayS}" ignorePerms="false" autoNormalize="true">
        <filesystemType>basic</filesystemType>
        <device id="${self.id}" introducedBy=""></device>
        <device id="${other.id}" introducedBy=""></device>
        <minDiskFree unit="%">1</minDiskFree>
        <maxConflicts>10</maxConflicts>
    </folder>
${device(self)}
${device(other)}
    <gui enabled="true" tls="false" debugging="false">
        <address>127.0.0.1:${self.gui}</address>
        <apikey>${self.apiKey}</apikey>
        <theme>default</theme>
    </gui>
    <options>
        <listenAddress>tcp://127.0.0.1:${self.listen}</listenAddress>
        <globalAnnounceEnabled>false</globalAnnounceEnabled>
        <localAnnounceEnabled>false</localAnnounceEnabled>
        <relaysEnabled>false</relaysEnabled>
        <natEnabled>false</natEnabled>
        <urAccepted>-1</urAccepted>
        <urSeen>3</urSeen>
        <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
        <startBrowser>false</startBrowser>
        <crashReportingEnabled>false</crashReportingEnabled>
        <announceLANAddresses>false</announceLANAddresses>
        <stunKeepaliveStartS>0</stunKeepaliveStartS>
        <stunKeepaliveMinS>0</stunKeepaliveMinS>
        <reconnectionIntervalS>5</reconnectionIntervalS>
    </options>
</configuration>
`;
}

export type SyncthingNode = Node;
