/** `scoutsync peer add|list|remove`: the admin API's peers, from the command line. */
import { z } from "zod";
import { errorMessage, type LocalResponse } from "../http.js";
import { CommandError, openSite } from "./client.js";
import { PeerRowSchema, peerTable } from "./status.js";

const PeerListSchema = z.object({ peers: z.array(PeerRowSchema) });
const AddedSchema = z.object({ peer: PeerRowSchema });

function ok(res: LocalResponse): void {
  if (res.status < 200 || res.status >= 300) throw new CommandError(errorMessage(res));
}

export async function peerAdd(data: string, url: string, name: string | undefined, print: (t: string) => void): Promise<number> {
  const res = await openSite(data).call("POST", "/api/admin/peers", name === undefined ? { url } : { url, name });
  ok(res);
  const added = AddedSchema.safeParse(res.json);
  const id = added.success ? added.data.peer.id : undefined;
  print(`scoutsync: added peer ${url}${name ? ` ("${name}")` : ""}${id ? ` with id ${id}` : ""}`);
  return 0;
}

export async function peerList(data: string, json: boolean, print: (t: string) => void): Promise<number> {
  const res = await openSite(data).call("GET", "/api/admin/peers");
  ok(res);
  const parsed = PeerListSchema.safeParse(res.json);
  if (!parsed.success) throw new CommandError(`the site's peer list is not what this CLI understands: ${res.text.slice(0, 200)}`);
  if (json) print(JSON.stringify(parsed.data.peers, null, 2));
  else print(parsed.data.peers.length === 0 ? "no peers yet (add one with scoutsync peer add URL)" : peerTable(parsed.data.peers));
  return 0;
}

export async function peerRemove(data: string, id: string, print: (t: string) => void): Promise<number> {
  const res = await openSite(data).call("DELETE", `/api/admin/peers/${encodeURIComponent(id)}`);
  ok(res);
  print(`scoutsync: removed peer ${id}`);
  return 0;
}
