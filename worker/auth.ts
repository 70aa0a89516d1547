/**
 * Who may call what. No login between servers (DESIGN.md §3): sync traffic is accepted from
 * loopback and from the addresses of configured peers; the agent and the CLI present the local
 * admin token. Everything else gets 403 with a reason.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "./app.js";
import { fail } from "./errors.js";
import { listPeers } from "./sync/peers.js";
import { services } from "./services.js";

export function callerIp(c: Context<AppEnv>): string | null {
  const ip = c.req.header("cf-connecting-ip");
  if (!ip) return null;
  return ip.startsWith("::ffff:") ? ip.slice(7) : ip;
}

export function isLoopback(ip: string | null): boolean {
  return ip !== null && (ip === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip));
}

function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function hasAdminToken(c: Context<AppEnv>, token: string | undefined): boolean {
  const header = c.req.header("authorization") ?? "";
  return token !== undefined && header.startsWith("Bearer ") && timingSafeEqual(header.slice(7), token);
}

/** The agent's and CLI's endpoints: the admin token, or (when no token is configured, e.g. plain `wrangler dev`) loopback. */
export function requireLocal(): MiddlewareHandler<AppEnv> {
  return async function requireLocal(c, next) {
    const s = await services(c.env);
    if (hasAdminToken(c, s.config.ADMIN_TOKEN)) return next();
    if (s.config.ADMIN_TOKEN === undefined && isLoopback(callerIp(c))) return next();
    fail(403, "forbidden", "this endpoint is for the site's own agent and CLI", "pass the admin token from the data folder");
  };
}

/** Sync endpoints: loopback, the admin token, or a configured peer's address. */
export function requirePeer(): MiddlewareHandler<AppEnv> {
  return async function requirePeer(c, next) {
    const s = await services(c.env);
    const ip = callerIp(c);
    if (isLoopback(ip) || hasAdminToken(c, s.config.ADMIN_TOKEN)) return next();
    if (ip !== null) {
      for (const p of await listPeers(s)) {
        const host = new URL(p.url).hostname.replace(/^\[|\]$/g, "");
        const addresses = p.addresses ? (JSON.parse(p.addresses) as string[]) : [];
        if (host === ip || addresses.includes(ip)) return next();
      }
    }
    fail(403, "not_a_peer", `${ip ?? "this caller"} is not a configured peer of this site`, "add this site's address on the other site's Servers page (or `scoutsync peer add`)");
  };
}
