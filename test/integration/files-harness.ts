/**
 * Helpers for the file sync tests on real sites: a linked mesh, the instance folders as
 * path → SHA-256 maps computed from disk, and calls to a site's API with its admin token.
 */
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, type Dirent } from "node:fs";
import path from "node:path";
import { createIgnoreMatcher } from "../../functions/files/ignore.js";
import { retryStale } from "../../local-agent/http.js";
import { Site, sweep, tempRoot, waitUntil } from "./site-harness.js";

export interface RunningSite {
  name: string;
  root: string;
  port: number;
  site: Site;
  instance: string;
  /** Extra flags it was started with (kept for a restart). */
  extra: string[];
}

export function siteArgs(name: string, port: number, extra: string[] = []): string[] {
  return ["--data", "data", "--instance", "instance", "--port", String(port), "--host", "127.0.0.1", "--name", name, ...extra];
}

export async function startSite(root: string, name: string, extra: string[] = []): Promise<RunningSite> {
  const { site, port } = await Site.start(root, name, extra);
  site.runtime();
  return { name, root, port, site, instance: path.join(root, "instance"), extra };
}

/** Starts the same site again (same folders, same port, so its peers still reach it). */
export async function restartSite(s: RunningSite): Promise<RunningSite> {
  const site = new Site(s.root, siteArgs(s.name, s.port, s.extra));
  await site.waitForUp();
  site.runtime();
  return { ...s, site };
}

export async function stopSite(s: RunningSite): Promise<void> {
  s.site.signal("SIGINT");
  await s.site.waitForExit();
}

export async function api(s: RunningSite, method: "GET" | "POST", pathname: string, body?: unknown, token = true): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (token) headers["authorization"] = `Bearer ${readFileSync(path.join(s.root, "data", "admin-token"), "utf8").trim()}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await retryStale(() =>
    fetch(`http://127.0.0.1:${s.port}${pathname}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    }),
  );
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { text };
  }
  return { status: res.status, json };
}

/** Starts a site per name, each in its own temp folder (`prefix-name`), and links them all: the mesh a test file runs on. */
export async function startMesh(prefix: string, names: string[], extra: (name: string) => string[] = () => []): Promise<RunningSite[]> {
  const sites = await Promise.all(names.map((n) => startSite(tempRoot(`${prefix}-${n}`), n, extra(n))));
  await linkAll(sites);
  return sites;
}

/** Stops the sites (one already gone is fine) and removes every temp folder. */
export async function stopMesh(sites: RunningSite[]): Promise<void> {
  await Promise.all(sites.map((s) => stopSite(s).catch(() => undefined)));
  sweep();
}

/** Every site names every other as a peer. */
export async function linkAll(sites: RunningSite[]): Promise<void> {
  for (const a of sites) {
    for (const b of sites) {
      if (a === b) continue;
      const r = await api(a, "POST", "/api/admin/peers", { url: `http://127.0.0.1:${b.port}`, name: b.name });
      if (r.status !== 201) throw new Error(`linking ${a.name} → ${b.name}: ${JSON.stringify(r.json)}`);
    }
  }
}

export type FolderMap = Record<string, string>;

/** Hashes by (path, size, mtime, inode): polling a folder then rereads only what changed. */
const hashCache = new Map<string, { key: string; hash: string }>();

function hashOf(file: string): string {
  const st = statSync(file);
  const key = `${st.size} ${st.mtimeMs} ${st.ino}`;
  const hit = hashCache.get(file);
  if (hit?.key === key) return hit.hash;
  const hash = createHash("sha256").update(readFileSync(file)).digest("hex");
  hashCache.set(file, { key, hash });
  return hash;
}

/** hashOf, or null for a file removed while we looked. */
function hashOrNull(file: string): string | null {
  try {
    return hashOf(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** What a folder's entry maps to in a FolderMap (its key is its path with a trailing "/"). */
export const DIR = "dir";

/**
 * What syncs in a folder: path → SHA-256 for files and "folder/" → DIR for folders (empty or not),
 * built-in and .syncignore exclusions left out.
 */
export function folderMap(dir: string): FolderMap {
  let ignoreText: string | null = null;
  try {
    ignoreText = readFileSync(path.join(dir, ".syncignore"), "utf8");
  } catch {
    ignoreText = null;
  }
  const matcher = createIgnoreMatcher(ignoreText);
  const out: FolderMap = {};
  const walk = (abs: string, rel: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch (err) {
      // Removed while we looked (a sync in progress): the next poll sees the outcome.
      if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return;
      throw err;
    }
    for (const e of entries) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      if (matcher.ignores(r, e.isDirectory())) continue;
      if (e.isDirectory()) {
        out[`${r.normalize("NFC")}/`] = DIR;
        walk(path.join(abs, e.name), r);
      } else if (e.isFile()) {
        const hash = hashOrNull(path.join(abs, e.name));
        if (hash !== null) out[r.normalize("NFC")] = hash;
      }
    }
  };
  walk(dir, "");
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Waits until every site's folder has the same synced content (and `check` holds on it). */
export async function waitSame(sites: RunningSite[], what: string, check: (m: FolderMap) => boolean = () => true, timeoutMs = 30_000): Promise<FolderMap> {
  let last = "";
  try {
    return await waitUntil(
      what,
      () => {
        const maps = sites.map((s) => folderMap(s.instance));
        const first = JSON.stringify(maps[0]);
        last = maps.map((m, i) => `${sites[i]!.name}: ${filesOf(m).length} files, ${Object.keys(m).length - filesOf(m).length} folders`).join(", ");
        return maps.every((m) => JSON.stringify(m) === first) && check(maps[0]!) ? maps[0] : undefined;
      },
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message} (${last})`);
  }
}

/** The file paths of a FolderMap (folders left out). */
export function filesOf(m: FolderMap): string[] {
  return Object.keys(m).filter((p) => !p.endsWith("/"));
}

export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function mtime(file: string): number {
  return statSync(file).mtimeMs;
}

export interface FilesStatusBody {
  files: number;
  pending: number;
  errors: { path: string; error: string }[];
  served: { chunks: number; bytes: number };
}

export async function filesStatus(s: RunningSite): Promise<FilesStatusBody> {
  const r = await api(s, "GET", "/api/sync/files/status");
  if (r.status !== 200) throw new Error(`status of ${s.name}: ${JSON.stringify(r.json)}`);
  return r.json as unknown as FilesStatusBody;
}

export function quantiles(ms: number[]): { p50: number; p90: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]! * 10) / 10;
  return { p50: q(0.5), p90: q(0.9), max: Math.round(s.at(-1)! * 10) / 10 };
}
