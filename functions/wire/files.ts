/** Wire bodies of the file endpoints (/api/sync/files/*). Every path goes through SyncPath. */
import { z } from "zod";
import { SiteIdSchema, StampSchema } from "../clock/hlc.js";
import { INLINE_MAX, MAX_BLOCKS, MAX_FILE_SIZE, SHA256_RE, contentShapeError } from "../files/chunks.js";
import { SyncPath } from "../files/path.js";

export const Sha256Schema = z.string().regex(SHA256_RE, "must be a SHA-256 as 64 lowercase hex digits");
const SizeSchema = z.number().int().min(0).max(MAX_FILE_SIZE);
const BlocksSchema = z.array(Sha256Schema).max(MAX_BLOCKS);
/** A small file's bytes, base64 (see INLINE_MAX); always checked against its hash on arrival. */
const InlineDataSchema = z.string().max(Math.ceil(INLINE_MAX / 3) * 4).regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be base64");
/** Small files' bytes by their SHA-256, carried beside the entries that name them. */
export const BlobsSchema = z.record(Sha256Schema, InlineDataSchema);
export type Blobs = z.infer<typeof BlobsSchema>;

export const VersionVectorSchema = z
  .record(SiteIdSchema, z.number().int().positive().max(Number.MAX_SAFE_INTEGER))
  .refine((v) => Object.keys(v).length <= 4096, "version vector has too many sites");

function checkShape(v: { size: number; hash: string | null; blocks: readonly string[]; deleted?: boolean | undefined; dir?: boolean | undefined }, ctx: z.RefinementCtx): void {
  if (v.deleted === true || v.dir === true) {
    if (v.hash !== null || v.size !== 0 || v.blocks.length !== 0) ctx.addIssue({ code: "custom", message: `a ${v.deleted === true ? "deleted entry" : "folder"} has no hash, size or blocks` });
    return;
  }
  if (v.hash === null) {
    ctx.addIssue({ code: "custom", path: ["hash"], message: "a file that is not deleted needs a hash" });
    return;
  }
  const why = contentShapeError(v.size, v.hash, v.blocks);
  if (why) ctx.addIssue({ code: "custom", path: ["hash"], message: why });
}

/** A replicated version (peers' changes and apply). */
export const FileEntrySchema = z
  .object({
    path: SyncPath,
    hash: Sha256Schema.nullable(),
    size: SizeSchema,
    blocks: BlocksSchema,
    vv: VersionVectorSchema,
    stamp: StampSchema,
    deleted: z.boolean(),
    /** A folder (issue #5); on a tombstone, a deleted folder. Absent means a file. */
    dir: z.boolean().default(false),
    origin: SiteIdSchema,
  })
  .superRefine(checkShape);
export type FileEntry = z.infer<typeof FileEntrySchema>;

export const MAX_FILES_PER_BATCH = 1000;

export type FileUpload =
  | { path: string; deleted: true; dir?: false; was?: string }
  | { path: string; deleted?: false; dir: true }
  | { path: string; deleted?: false; dir?: false; size: number; hash: string; blocks: string[]; mtimeMs: number; data?: string; was?: string };

const FILE_FIELDS = ["size", "hash", "blocks", "mtimeMs", "data"] as const;

/**
 * The agent's report of a file it saw on disk (hashed), a folder it saw, or a path it saw
 * disappear. One object with the fields of every shape, so that a refusal names the field (a
 * union would only say "invalid").
 */
export const FileUploadSchema = z
  .object({
    path: SyncPath,
    deleted: z.boolean().optional(),
    /** A folder is here (its content is reported path by path). */
    dir: z.boolean().optional(),
    size: SizeSchema.optional(),
    hash: Sha256Schema.optional(),
    blocks: BlocksSchema.optional(),
    mtimeMs: z.number().nonnegative().optional(),
    /** The file's bytes when it is small (the worker checks them against hash). */
    data: InlineDataSchema.optional(),
    /**
     * The hash the agent last saw or wrote at this path: newer than the manifest's disk columns
     * while the agent's report of a file it just wrote is still on its way (a received file
     * deleted or edited at once must count as a change of that file, not of nothing).
     */
    was: Sha256Schema.optional(),
  })
  .superRefine((v, ctx) => {
    if (v.deleted === true && v.dir === true) ctx.addIssue({ code: "custom", path: ["dir"], message: `a deleted path is reported without "dir"` });
    if (v.dir === true && v.was !== undefined) ctx.addIssue({ code: "custom", path: ["was"], message: `only for a file or a deleted path, not with "dir": true` });
    if (v.deleted === true || v.dir === true) {
      for (const k of FILE_FIELDS) if (v[k] !== undefined) ctx.addIssue({ code: "custom", path: [k], message: `only for a file, not with "${v.deleted === true ? "deleted" : "dir"}": true` });
      return;
    }
    for (const k of ["size", "hash", "blocks", "mtimeMs"] as const) {
      if (v[k] === undefined) ctx.addIssue({ code: "custom", path: [k], message: `required unless "deleted" or "dir" is true` });
    }
    if (v.size !== undefined && v.hash !== undefined && v.blocks !== undefined) checkShape({ size: v.size, hash: v.hash, blocks: v.blocks }, ctx);
  })
  .transform((v): FileUpload => {
    const was = v.was === undefined ? {} : { was: v.was };
    if (v.deleted === true) return { path: v.path, deleted: true, ...was };
    if (v.dir === true) return { path: v.path, dir: true };
    const out: FileUpload = { path: v.path, size: v.size ?? 0, hash: v.hash ?? "", blocks: v.blocks ?? [], mtimeMs: v.mtimeMs ?? 0, ...was };
    if (v.data !== undefined) out.data = v.data;
    return out;
  });

/** One report, or a batch of them (a burst of 1,000 files costs one request, not 1,000). */
export const UploadBodySchema = z.preprocess(
  (v) => (v !== null && typeof v === "object" && "files" in v ? v : { files: [v] }),
  z.object({ files: z.array(FileUploadSchema).min(1).max(MAX_FILES_PER_BATCH) }),
);
export type UploadBody = z.infer<typeof UploadBodySchema>;

export const UploadResultSchema = z.object({
  /** New versions recorded. */
  versions: z.number().int(),
  /** Reports that only updated what the disk holds (echoes of received files, touches). */
  unchanged: z.number().int(),
  conflicts: z.number().int(),
});
export type UploadResult = z.infer<typeof UploadResultSchema>;

export const FileChangesQuerySchema = z.object({
  since: z.coerce.number().int().nonnegative().default(0),
  limit: z.coerce.number().int().min(1).max(MAX_FILES_PER_BATCH).default(500),
  /** The caller's site id: versions it sent us itself are left out (they would only echo). */
  for: SiteIdSchema.optional(),
  /** How far the caller has applied our versions (its pull checkpoint): our pushes to it skip that far. */
  applied: z.coerce.number().int().nonnegative().optional(),
});

export const FileChangesPageSchema = z.object({
  site: SiteIdSchema,
  last: z.number().int().nonnegative(),
  head: z.number().int().nonnegative(),
  more: z.boolean(),
  files: z.array(FileEntrySchema),
  /** Small files' bytes, as a push carries them: a page pulled instead of pushed costs no downloads. */
  blobs: BlobsSchema.optional(),
});
export type FileChangesPage = z.infer<typeof FileChangesPageSchema>;

export const FileApplyBatchSchema = z.object({
  from: SiteIdSchema,
  files: z.array(FileEntrySchema).max(MAX_FILES_PER_BATCH, `at most ${MAX_FILES_PER_BATCH} files per batch`),
  blobs: BlobsSchema.optional(),
  /** Other sites the sender pushes these same versions to: the receiver need not forward them there. */
  also: z.array(SiteIdSchema).max(4096).optional(),
});
export type FileApplyBatch = z.infer<typeof FileApplyBatchSchema>;

export const FileApplyResultSchema = z.object({
  applied: z.number().int(),
  unchanged: z.number().int(),
  conflicts: z.number().int(),
  /** Entries refused here (a path this site never syncs, such as *.db). */
  refused: z.number().int(),
  /** Nothing applied: the receiver is pulling from the sender and fetches these itself. */
  deferred: z.boolean().optional(),
});
export type FileApplyResult = z.infer<typeof FileApplyResultSchema>;

export const PendingQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_FILES_PER_BATCH).default(200),
});

export const PendingFileSchema = z.object({
  path: z.string(),
  hash: Sha256Schema.nullable(),
  size: z.number().int(),
  blocks: z.array(Sha256Schema),
  deleted: z.boolean(),
  dir: z.boolean(),
  /** Site id of the peer this version came from (fetch from it first); null = written here. */
  source: z.string().nullable(),
  /** What the disk held when last seen; the materializer never replaces anything else. */
  disk: z.object({ hash: z.string().nullable(), size: z.number().nullable(), mtimeMs: z.number().nullable() }),
  error: z.string().nullable(),
});
export type PendingFile = z.infer<typeof PendingFileSchema>;

export const PendingPageSchema = z.object({
  peers: z.array(z.object({ id: z.string(), url: z.string(), site: z.string().nullable() })),
  files: z.array(PendingFileSchema),
  /** Bytes of small pending files the worker has at hand (a wake right after a push). */
  blobs: BlobsSchema.optional(),
});
export type PendingPage = z.infer<typeof PendingPageSchema>;

export type MaterializedItem =
  | { path: string; hash: string | null; size: number; mtimeMs: number }
  /** A folder is on disk: made, or (`kept`) left in place by a received delete because it is not empty. */
  | { path: string; dir: true; kept: boolean }
  | { path: string; error: string };

/** What the materializer did: written (hash), deleted (hash null), a folder (dir), or failed (error). */
export const MaterializedItemSchema = z
  .object({
    path: SyncPath,
    hash: Sha256Schema.nullable().optional(),
    size: SizeSchema.optional(),
    mtimeMs: z.number().nonnegative().optional(),
    dir: z.literal(true).optional(),
    kept: z.boolean().optional(),
    error: z.string().max(1000).optional(),
  })
  .superRefine((v, ctx) => {
    if (v.error === undefined && v.dir === undefined && v.hash === undefined) ctx.addIssue({ code: "custom", path: ["hash"], message: "required (null for a delete) unless dir or error is given" });
    if (v.dir === true && v.hash !== undefined) ctx.addIssue({ code: "custom", path: ["hash"], message: "a folder has no hash" });
  })
  .transform((v): MaterializedItem => {
    if (v.error !== undefined) return { path: v.path, error: v.error };
    if (v.dir === true) return { path: v.path, dir: true, kept: v.kept ?? false };
    return { path: v.path, hash: v.hash ?? null, size: v.size ?? 0, mtimeMs: v.mtimeMs ?? 0 };
  });
export const MaterializedBodySchema = z.preprocess(
  (v) => (v !== null && typeof v === "object" && "files" in v ? v : { files: [v] }),
  z.object({ files: z.array(MaterializedItemSchema).min(1).max(MAX_FILES_PER_BATCH) }),
);

/** The agent tells its worker where its chunk server listens (loopback only). */
export const AgentHelloSchema = z.object({ port: z.number().int().min(1).max(65535) });

export const DownloadQuerySchema = z.object({ hash: Sha256Schema });

export const LocalManifestQuerySchema = z.object({
  after: z.string().default(""),
  limit: z.coerce.number().int().min(1).max(5000).default(2000),
});

/** The manifest as the agent's startup scan needs it: what the disk held (diskHash DIR_MARK: a folder), and that version's blocks. */
export const LocalManifestRowSchema = z.object({
  path: z.string(),
  diskHash: z.string().nullable(),
  diskSize: z.number().nullable(),
  diskMtimeMs: z.number().nullable(),
  /** Blocks of the disk's content when it is the current version, else null (unknown here). */
  diskBlocks: z.array(z.string()).nullable(),
});
export type LocalManifestRow = z.infer<typeof LocalManifestRowSchema>;
export const LocalManifestPageSchema = z.object({ files: z.array(LocalManifestRowSchema), next: z.string().nullable() });

export const FilesStatusSchema = z.object({
  files: z.number().int(),
  deleted: z.number().int(),
  pending: z.number().int(),
  seq: z.number().int(),
  /** Entries with an error; `errors` lists the first 100. */
  failing: z.number().int(),
  errors: z.array(z.object({ path: z.string(), error: z.string() })),
  /** Blocks this worker passed on to peers since it started: what a test checks to see that a rename sent no bytes. */
  served: z.object({ chunks: z.number().int(), bytes: z.number().int() }),
  agent: z.object({ port: z.number().int().nullable() }),
});
export type FilesStatus = z.infer<typeof FilesStatusSchema>;
