/** File versions as a replication feed (worker/sync/feed.ts): the same loop and checkpoints as rows. */
import { versionOf } from "../../functions/files/local-change.js";
import { FileApplyResultSchema, FileChangesPageSchema, type FileApplyBatch, type FileEntry } from "../../functions/wire/files.js";
import type { Services } from "../services.js";
import { call, postJson, type Feed } from "../sync/feed.js";
import { knownPeers } from "../sync/known-peers.js";
import { wakeAgent } from "./agent-link.js";
import { applyFiles } from "./apply.js";
import { acceptBlobs, inlineBlobs } from "./blob-cache.js";
import { versionsSince } from "./store.js";

export const FILE_PAGE = 500;

/** A version as the feed reads it: the wire entry, plus the peer known to have it already. */
type FeedEntry = FileEntry & { heldBy?: readonly string[] };

export async function readFileChanges(s: Services, since: number, limit: number) {
  const page = await versionsSince(s.state, since, limit);
  return {
    files: page.rows.map((r): FeedEntry => ({ ...versionOf(r), blocks: [...r.blocks], vv: { ...r.vv }, heldBy: r.heldBy })),
    last: page.last,
    head: page.head,
    more: page.more,
  };
}

function toWire(e: FeedEntry): FileEntry {
  const { heldBy: _held, ...wire } = e;
  return wire;
}

export const fileFeed: Feed<FeedEntry> = {
  checkpoints: { pushed: "filesPushedSeq", pulled: "filesPulledSeq", remote: "filesRemoteSeq" },
  page: FILE_PAGE,
  async read(s, _peer, since, limit) {
    const page = await readFileChanges(s, since, limit);
    return { items: page.files, last: page.last, more: page.more };
  },
  async send(s, peer, items) {
    // What the peer has (it sent it, or its sender pushed it there too) is not sent: only the checkpoint moves.
    const target = peer.remoteSite;
    const files = items.filter((i) => target === null || !(i.heldBy ?? []).includes(target)).map(toWire);
    if (files.length === 0) return true;
    const also = (await knownPeers(s)).map((p) => p.site).filter((x): x is string => x !== null && x !== target);
    const body: FileApplyBatch = { from: s.siteId, files, ...inlineBlobs(files), ...(also.length ? { also } : {}) };
    return !FileApplyResultSchema.parse(await call(`${peer.url}/api/sync/files/apply`, postJson(body))).deferred;
  },
  async fetch(s, peer, since, limit, applied) {
    const body = FileChangesPageSchema.parse(await call(`${peer.url}/api/sync/files/changes?since=${since}&limit=${limit}&for=${s.siteId}&applied=${applied}`));
    // Kept like a push's (checked against their hashes), so the wake after the apply hands them on.
    await acceptBlobs(body.blobs);
    return { site: body.site, items: body.files, last: body.last, head: body.head, more: body.more };
  },
  async apply(s, from, items) {
    // Pulled: nobody else is known to be getting these, so no `also`.
    const out = await applyFiles(s, from, items.map(toWire));
    if (out.pending.length > 0) await wakeAgent(s, out.pending);
    return out.applied;
  },
};
