/**
 * The worker's line to its own agent's chunk server on 127.0.0.1. The agent says where it
 * listens when it starts (POST /api/sync/files/agent); the port is kept in settings, since the
 * worker keeps nothing between requests. Through it the worker serves peers' block downloads
 * from the instance folder (the only copy of the bytes) and wakes the materializer the moment a
 * received version needs writing, instead of waiting for its 2 s poll.
 */
import type { BlobSource } from "../../functions/files/blob-source.js";
import type { PendingFile, PendingPage } from "../../functions/wire/files.js";
import type { Services } from "../services.js";
import { knownPeers } from "../sync/known-peers.js";
import { inlineBlobs } from "./blob-cache.js";

const PORT_KEY = "files_agent_port";
const WAKE_TIMEOUT_MS = 2_000;
const CHUNK_TIMEOUT_MS = 30_000;

/** Blocks this isolate passed to peers: the counter tests use to see that a rename sent no bytes. */
export const served = { chunks: 0, bytes: 0 };

let cachedPort: number | null = null;

export async function setAgentPort(s: Services, port: number): Promise<void> {
  await s.state.execute({
    sql: "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    args: [PORT_KEY, String(port)],
  });
  cachedPort = port;
}

export async function agentPort(s: Services): Promise<number | null> {
  if (cachedPort !== null) return cachedPort;
  const rs = await s.state.execute({ sql: "SELECT value FROM settings WHERE key = ?", args: [PORT_KEY] });
  const n = Number(rs.rows[0]?.[0]);
  cachedPort = Number.isInteger(n) && n > 0 ? n : null;
  return cachedPort;
}

function agentHeaders(s: Services): Record<string, string> {
  const token = s.config.ADMIN_TOKEN;
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/**
 * Tells the agent there is work, and hands it the work itself (the entries just received), which
 * saves it asking for them. A missing or busy agent is fine: it polls pending anyway.
 */
export async function wakeAgent(s: Services, files: PendingFile[] = []): Promise<void> {
  const port = await agentPort(s);
  if (port === null) return;
  try {
    const page: PendingPage = { peers: await knownPeers(s), files, ...inlineBlobs(files) };
    const res = await fetch(`http://127.0.0.1:${port}/wake`, {
      method: "POST",
      headers: { ...agentHeaders(s), "content-type": "application/json" },
      body: JSON.stringify(page),
      signal: AbortSignal.timeout(WAKE_TIMEOUT_MS),
    });
    await res.body?.cancel();
  } catch {
    // Not up (restarting): its startup pass and its poll will find the work.
  }
}

/** Blocks read by the agent from the instance folder, verified there before they are sent. */
export function agentBlobSource(s: Services): BlobSource {
  return {
    async getChunk(hash) {
      const port = await agentPort(s);
      if (port === null) return null;
      const res = await fetch(`http://127.0.0.1:${port}/chunk/${hash}`, { headers: agentHeaders(s), signal: AbortSignal.timeout(CHUNK_TIMEOUT_MS) });
      if (res.status === 404) {
        await res.body?.cancel();
        return null;
      }
      if (!res.ok || res.body === null) {
        await res.body?.cancel();
        throw new Error(`the agent answered HTTP ${res.status} for block ${hash}`);
      }
      const length = Number(res.headers.get("content-length") ?? 0);
      served.chunks++;
      served.bytes += length;
      return res.body;
    },
  };
}
