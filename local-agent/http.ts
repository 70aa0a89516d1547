/**
 * The one way the agent and the CLI talk to their own site's worker: loopback HTTP with the
 * admin token. Every call is bounded by a timeout and never throws for an HTTP status; callers
 * decide what a 404 or 500 means.
 */
import { dialHost, urlAuthority } from "./config.js";

export interface LocalTarget {
  host: string;
  port: number;
  token: string;
}

export interface LocalResponse {
  status: number;
  /** Parsed JSON when the body was JSON, else null. */
  json: unknown;
  text: string;
}

export function siteUrl(target: Pick<LocalTarget, "host" | "port">, pathname: string): string {
  return `http://${urlAuthority(dialHost(target.host), target.port)}${pathname}`;
}

export async function callLocal(
  target: LocalTarget,
  method: "GET" | "POST" | "DELETE",
  pathname: string,
  body?: unknown,
  timeoutMs = 30_000,
): Promise<LocalResponse> {
  // identity: fetch asks for gzip by default, and Miniflare then compresses every JSON answer,
  // work on both ends of a loopback call.
  const headers: Record<string, string> = { authorization: `Bearer ${target.token}`, accept: "application/json", "accept-encoding": "identity" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(siteUrl(target, pathname), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text === "" ? null : JSON.parse(text);
  } catch {
    // Not JSON (a 404 page, a proxy error): keep the text for the message.
  }
  return { status: res.status, json, text };
}

/** fetch() failed because the kept-alive connection it reused was closed by the other side just then. */
function isStaleConnection(err: unknown): boolean {
  const code = (err as { cause?: { code?: unknown } }).cause?.code;
  return code === "ECONNRESET" || code === "UND_ERR_SOCKET" || code === "EPIPE";
}

function isRefused(err: unknown): boolean {
  return (err as { cause?: { code?: unknown } }).cause?.code === "ECONNREFUSED";
}

/** How long a running site's port may refuse connections: workerd restarting (~0.3 s, workerd-recycle.ts) or the launcher restarting the worker. */
const REFUSED_FOR_MS = 3_000;
const REFUSED_RETRY_MS = 100;

/**
 * Runs `call` again while the connection is refused (the request never left, so any call may be
 * repeated), for up to `forMs`: for callers that know the site is running, so that a request
 * landing in a restart of its worker does not fail.
 */
export async function retryRefused<T>(call: () => Promise<T>, forMs = REFUSED_FOR_MS): Promise<T> {
  const until = Date.now() + forMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!isRefused(err) || Date.now() + REFUSED_RETRY_MS > until || attempt * REFUSED_RETRY_MS > forMs) throw err;
      await new Promise((r) => setTimeout(r, REFUSED_RETRY_MS));
    }
  }
}

/**
 * Runs `call`, and once more on a fresh connection when it failed on a stale one (workerd closes
 * an idle kept-alive connection just as it may be reused). Only for calls that are safe to repeat.
 */
export async function retryStale<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!isStaleConnection(err)) throw err;
    return call();
  }
}

/** The human sentence in an error body ({error, hint?}), or a fallback from the status. */
export function errorMessage(res: LocalResponse): string {
  const j = res.json;
  if (j && typeof j === "object") {
    const rec = j as Record<string, unknown>;
    const parts = [rec["error"], rec["message"], rec["hint"]].filter((v): v is string => typeof v === "string" && v !== "");
    if (parts.length > 0) return parts.join(" — ");
  }
  const snippet = res.text.trim().split("\n")[0]?.slice(0, 200) ?? "";
  return snippet === "" ? `HTTP ${res.status}` : `HTTP ${res.status}: ${snippet}`;
}
