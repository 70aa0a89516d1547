/** `scoutsync status [--json]`: this site and each peer, from the running worker. */
import { z } from "zod";
import { PeerViewSchema } from "../../functions/wire/admin.js";
import { dialHost, urlAuthority } from "../config.js";
import { errorMessage } from "../http.js";
import { CommandError, openSite } from "./client.js";
import { ago, duration, table } from "./format.js";

export const PeerRowSchema = PeerViewSchema.partial().loose();
export type PeerRow = z.infer<typeof PeerRowSchema>;

// Loose on purpose: the CLI must keep printing what it can when the worker adds fields, and
// when it is older and only answers ping ({site, name, version, clock, uptime}).
const StatusSchema = z
  .object({
    site: z.string().optional(),
    name: z.string().optional(),
    version: z.string().optional(),
    uptime: z.number().optional(),
    seq: z.number().optional(),
    parked: z.number().optional(),
    files: z.object({ files: z.number(), pending: z.number(), failing: z.number(), errors: z.array(z.object({ path: z.string(), error: z.string() })) }).partial().optional(),
    peers: z.array(PeerRowSchema).optional(),
  })
  .loose();
type Status = z.infer<typeof StatusSchema>;

export async function statusCommand(data: string, json: boolean, print: (text: string) => void): Promise<number> {
  const site = openSite(data);
  let res = await site.call("GET", "/api/admin/status");
  // An older worker without the admin API still tells us who it is.
  if (res.status === 404) res = await site.call("GET", "/api/sync/ping");
  if (res.status !== 200) throw new CommandError(`the site answered ${res.status}: ${errorMessage(res)}`);
  const parsed = StatusSchema.safeParse(res.json);
  if (!parsed.success) throw new CommandError(`the site's status is not what this CLI understands: ${res.text.slice(0, 200)}`);
  const { runtime } = site;
  if (json) {
    const local = { pid: runtime.pid, port: runtime.port, host: runtime.host, dbPort: runtime.dbPort, startedAt: runtime.startedAt, data: runtime.data, instance: runtime.instance, db: runtime.db };
    print(JSON.stringify({ ...parsed.data, local }, null, 2));
    return 0;
  }
  print(render(parsed.data, runtime));
  return 0;
}

function render(s: Status, r: ReturnType<typeof openSite>["runtime"]): string {
  const uptimeMs = s.uptime !== undefined ? s.uptime * 1000 : Date.now() - r.startedAt;
  const lines = [
    `site       "${s.name ?? r.name}"${s.site ? `  id ${s.site}` : ""}  version ${s.version ?? r.version}`,
    `dashboard  http://${urlAuthority(dialHost(r.host), r.port)}/  (listening on ${urlAuthority(r.host, r.port)})`,
    `libSQL     127.0.0.1:${r.dbPort}  (app database ${r.db})`,
    `folders    data ${r.data}, instance ${r.instance}`,
    `uptime     ${duration(uptimeMs)}  (pid ${r.pid})`,
  ];
  if (s.seq !== undefined) lines.push(`changes    ${s.seq} local change(s) recorded${s.parked ? `, ${s.parked} parked` : ""}`);
  if (s.files !== undefined) {
    lines.push(`files      ${s.files.files ?? 0} file(s), ${s.files.pending ?? 0} waiting to be written, ${s.files.failing ?? 0} with errors`);
    for (const e of s.files.errors?.slice(0, 5) ?? []) lines.push(`           ${e.path}: ${e.error}`);
  }
  if (s.peers === undefined) return lines.join("\n");
  if (s.peers.length === 0) return [...lines, "peers      none (add one with scoutsync peer add URL)"].join("\n");
  return [...lines, "", peerTable(s.peers)].join("\n");
}

export function peerTable(peers: PeerRow[]): string {
  return table(
    ["ID", "NAME", "URL", "STATE", "LAST SYNC", "PENDING", "ERROR"],
    peers.map((p) => [
      p.id ?? "?",
      p.name ?? "-",
      p.url ?? "?",
      p.online === undefined ? "?" : p.online ? "online" : "offline",
      ago(p.lastSyncAt),
      String(p.pending ?? 0),
      p.lastError ?? "",
    ]),
  );
}
