/** File versions as a replication feed (worker/sync/feed.ts): the same loop and checkpoints as rows. */
import { versionOf } from "../../functions/files/local-change.js";
import { FileApplyResultSchema, FileChangesPageSchema, type FileApplyBatch, type FileEntry } from "../../functions/wire/files.js";
import type { Services } from "../services.js";
import { call, postJson, type Feed } from "../sync/feed.js";
import { wakeAgent } from "./agent-link.js";
import { applyFiles } from "./apply.js";
import { versionsSince } from "./store.js";

export const FILE_PAGE = 500;

export async function readFileChanges(s: Services, since: number, limit: number) {
  const page = await versionsSince(s.state, since, limit);
  return { files: page.rows.map((r): FileEntry => ({ ...versionOf(r), blocks: [...r.blocks], vv: { ...r.vv } })), last: page.last, head: page.head, more: page.more };
}

export const fileFeed: Feed<FileEntry> = {
  checkpoints: { pushed: "filesPushedSeq", pulled: "filesPulledSeq", remote: "filesRemoteSeq" },
  page: FILE_PAGE,
  async read(s, since, limit) {
    const page = await readFileChanges(s, since, limit);
    return { items: page.files, last: page.last, more: page.more };
  },
  async send(s, peer, items) {
    const body: FileApplyBatch = { from: s.siteId, files: items };
    FileApplyResultSchema.parse(await call(`${peer.url}/api/sync/files/apply`, postJson(body)));
  },
  async fetch(_s, peer, since, limit) {
    const body = FileChangesPageSchema.parse(await call(`${peer.url}/api/sync/files/changes?since=${since}&limit=${limit}`));
    return { site: body.site, items: body.files, last: body.last, head: body.head, more: body.more };
  },
  async apply(s, from, items) {
    const out = await applyFiles(s, from, items);
    if (out.wake) await wakeAgent(s);
    return out.applied;
  },
};
