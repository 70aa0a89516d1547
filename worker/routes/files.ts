/**
 * /api/sync/files/*: the instance folder's manifest.
 * Agent (requireLocal): upload (what it saw on disk), pending (what it must write),
 * materialized (what it wrote), agent (where its chunk server listens), local (the manifest for
 * its startup scan), status. Peers (requirePeer): changes (pull), apply (push), download (a block).
 */
import { Hono } from "hono";
import { createIgnoreMatcher } from "../../functions/files/ignore.js";
import { orderPending } from "../../functions/files/pending.js";
import {
  AgentHelloSchema,
  DownloadQuerySchema,
  FileApplyBatchSchema,
  FileChangesQuerySchema,
  LocalManifestQuerySchema,
  MaterializedBodySchema,
  PendingQuerySchema,
  UploadBodySchema,
  type FileApplyResult,
  type FileChangesPage,
  type FilesStatus,
  type PendingPage,
} from "../../functions/wire/files.js";
import type { AppEnv } from "../app.js";
import { requireLocal, requirePeer } from "../auth.js";
import { background } from "../background.js";
import { fail } from "../errors.js";
import { agentBlobSource, agentPort, served, setAgentPort, wakeAgent } from "../files/agent-link.js";
import { applyFiles, pendingFileOf } from "../files/apply.js";
import { acceptBlob, acceptBlobs, cachedBlob, inlineBlobs } from "../files/blob-cache.js";
import { readFileChanges } from "../files/feed.js";
import { hashFitsBlocks } from "../files/sha256.js";
import { recordMaterialized, recordUploads } from "../files/record.js";
import { counts, manifestPage, pendingRows, readMeta } from "../files/store.js";
import { services } from "../services.js";
import { leaveToPull, listPeers, notePulled, pushAll, servedPage } from "../sync/peers.js";
import { knownPeers } from "../sync/known-peers.js";
import { jsonBody, queryParams } from "../validate.js";

/** A batch of 1,000 versions of 2 GiB files (2,048 block hashes each) is ~140 MB; the agent sends far less per request. */
const MAX_BODY = 64 * 1024 * 1024;
const builtins = createIgnoreMatcher(null);

export function fileRoutes(): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .post("/upload", requireLocal(), async (c) => {
      const s = await services(c.env);
      const body = await jsonBody(c, UploadBodySchema, MAX_BODY);
      const files = body.files;
      for (const f of files) {
        const why = builtins.reason(f.path, f.dir === true);
        if (why) fail(400, "excluded", `${f.path} is never synced (${why})`);
        if (f.deleted === true || f.dir === true) continue;
        // The content checks possible without the disk: the hash is its blocks', inline bytes are the file.
        if (!(await hashFitsBlocks(f))) fail(400, "hash_mismatch", `${f.path}: the hash ${f.hash} is not the one its blocks make`, "hash the file again with this version of scoutsync");
        if (f.data !== undefined && !(await acceptBlob(f.hash, f.data))) {
          fail(400, "hash_mismatch", `${f.path}: the bytes sent do not have the SHA-256 ${f.hash}`, "hash the file again; it may have changed while it was read");
        }
      }
      // The peer list is read beside the record, not after it: one round trip less before the push (B1).
      const listed = listPeers(s);
      listed.catch(() => undefined);
      const result = await recordUploads(s, files);
      if (result.versions > 0) background(c, pushAll(s, ["files"], listed));
      return c.json(result);
    })
    .post("/materialized", requireLocal(), async (c) => {
      const s = await services(c.env);
      const body = await jsonBody(c, MaterializedBodySchema, MAX_BODY);
      const { recorded, versions } = await recordMaterialized(s, body.files);
      // Folders kept by a delete that found them not empty come back everywhere.
      if (versions > 0) background(c, pushAll(s, ["files"]));
      return c.json({ recorded });
    })
    .post("/agent", requireLocal(), async (c) => {
      const s = await services(c.env);
      const body = await jsonBody(c, AgentHelloSchema, 1024);
      await setAgentPort(s, body.port);
      return c.json({ site: s.siteId });
    })
    .get("/pending", requireLocal(), async (c) => {
      const s = await services(c.env);
      const q = queryParams(c, PendingQuerySchema);
      const rows = orderPending(await pendingRows(s.state, q.limit));
      // Peers only matter for fetching blocks: none for an empty page (the agent's idle poll).
      const peers = rows.length > 0 ? await knownPeers(s) : [];
      const body: PendingPage = { ...inlineBlobs(rows), peers, files: rows.map(pendingFileOf) };
      return c.json(body);
    })
    .get("/local", requireLocal(), async (c) => {
      const s = await services(c.env);
      const q = queryParams(c, LocalManifestQuerySchema);
      const rows = await manifestPage(s.state, q.after, q.limit);
      return c.json({
        files: rows.map((r) => ({
          path: r.path,
          diskHash: r.diskHash,
          diskSize: r.diskSize,
          diskMtimeMs: r.diskMtimeMs,
          diskBlocks: !r.deleted && r.hash === r.diskHash ? [...r.blocks] : null,
        })),
        next: rows.length === q.limit ? (rows.at(-1)?.path ?? null) : null,
      });
    })
    .get("/status", requireLocal(), async (c) => {
      const s = await services(c.env);
      const n = await counts(s.state);
      const body: FilesStatus = { ...n, seq: (await readMeta(s.state)).seq, served: { ...served }, agent: { port: await agentPort(s) } };
      return c.json(body);
    })
    .get("/changes", requirePeer(), async (c) => {
      const s = await services(c.env);
      const q = queryParams(c, FileChangesQuerySchema);
      if (q.for !== undefined) await notePulled(s, q.for, q.applied ?? 0, "files");
      const page = await readFileChanges(s, q.since, q.limit);
      if (q.for !== undefined) servedPage(q.for, "files", page.more);
      // Only what the caller sent us itself is left out; what others merely pushed its way may not have arrived.
      const files = page.files.filter((f) => q.for === undefined || f.heldBy?.[0] !== q.for).map(({ heldBy: _held, ...wire }) => wire);
      const body: FileChangesPage = { ...page, site: s.siteId, files, ...inlineBlobs(files) };
      return c.json(body);
    })
    .post("/apply", requirePeer(), async (c) => {
      const s = await services(c.env);
      const batch = await jsonBody(c, FileApplyBatchSchema, MAX_BODY);
      if (batch.from === s.siteId) fail(400, "self", "this batch comes from this very site", "a peer URL points back at this site; remove it");
      if (leaveToPull(batch.from, "files")) return c.json({ applied: 0, unchanged: 0, conflicts: 0, refused: 0, deferred: true } satisfies FileApplyResult);
      // Bytes that do not match their hash are dropped here; the agent then downloads the file.
      await acceptBlobs(batch.blobs);
      const out = await applyFiles(s, batch.from, batch.files, batch.also);
      if (out.pending.length > 0) background(c, wakeAgent(s, out.pending));
      // Forward what changed here to our other peers.
      if (out.applied > 0) background(c, pushAll(s, ["files"]));
      const body: FileApplyResult = { applied: out.applied, unchanged: out.unchanged, conflicts: out.conflicts, refused: out.refused };
      return c.json(body);
    })
    .get("/download", requirePeer(), async (c) => {
      const s = await services(c.env);
      const q = queryParams(c, DownloadQuerySchema);
      const small = cachedBlob(q.hash);
      if (small !== undefined) {
        served.chunks++;
        served.bytes += small.length;
        return new Response(small as Uint8Array<ArrayBuffer>, { headers: { "content-type": "application/octet-stream", "cache-control": "no-store" } });
      }
      const stream = await agentBlobSource(s).getChunk(q.hash);
      if (stream === null) fail(404, "no_such_block", `this site has no block ${q.hash} on disk`, "ask another peer, or retry once this site has written the file");
      return new Response(stream, { headers: { "content-type": "application/octet-stream", "cache-control": "no-store" } });
    });
}
