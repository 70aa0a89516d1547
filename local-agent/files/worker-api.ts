/** The file endpoints of the site's own worker, as the agent calls them (typed, validated). */
import { z } from "zod";
import {
  LocalManifestPageSchema,
  PendingPageSchema,
  UploadResultSchema,
  type FileUpload,
  type LocalManifestRow,
  type MaterializedItem,
  type PendingPage,
  type UploadResult,
} from "../../functions/wire/files.js";
import { callLocal, errorMessage, retryStale, type LocalTarget } from "../http.js";

export interface FilesApi {
  hello(port: number): Promise<void>;
  upload(files: FileUpload[]): Promise<UploadResult>;
  pending(limit: number): Promise<PendingPage>;
  materialized(items: MaterializedItem[]): Promise<void>;
  manifest(): AsyncIterable<LocalManifestRow>;
}

export function localFilesApi(target: LocalTarget): FilesApi {
  const call = async <S extends z.ZodType>(method: "GET" | "POST", pathname: string, schema: S, body?: unknown): Promise<z.output<S>> => {
    // Every call here is idempotent.
    const res = await retryStale(() => callLocal(target, method, pathname, body, 120_000));
    if (res.status < 200 || res.status >= 300) throw new Error(`${pathname}: ${errorMessage(res)}`);
    return schema.parse(res.json);
  };
  const ok = z.unknown();
  return {
    hello: async (port) => void (await call("POST", "/api/sync/files/agent", ok, { port })),
    upload: (files) => call("POST", "/api/sync/files/upload", UploadResultSchema, { files }),
    pending: (limit) => call("GET", `/api/sync/files/pending?limit=${limit}`, PendingPageSchema),
    materialized: async (items) => void (await call("POST", "/api/sync/files/materialized", ok, { files: items })),
    async *manifest() {
      let after = "";
      for (;;) {
        const page = await call("GET", `/api/sync/files/local?after=${encodeURIComponent(after)}`, LocalManifestPageSchema);
        yield* page.files;
        if (page.next === null) return;
        after = page.next;
      }
    },
  };
}
