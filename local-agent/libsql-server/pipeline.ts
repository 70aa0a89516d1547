// One `POST .../v2/pipeline`: find or open the stream, run its requests in order (waiting
// asynchronously and running a request again when SQLITE_BUSY allows it), then park the
// stream under a new baton or close it.

import { executeRequest } from "./execute.js";
import type { PipelineReqBody, PipelineRespBody, StreamRequest, StreamResult } from "./protocol.js";
import type { DatabasePool } from "./pool.js";
import type { Stream, StreamRegistry } from "./streams.js";

/** How long a request is retried while another connection (e.g. the app) holds the write lock. */
export const BUSY_RETRY_LIMIT_MS = 10_000;
const BUSY_DELAY_MAX_MS = 50;

export interface PipelineContext {
  registry: StreamRegistry;
  isClosing(): boolean;
  log(line: string): void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function runWithBusyRetry(
  ctx: PipelineContext,
  stream: Stream,
  req: Exclude<StreamRequest, { type: "close" }>,
): Promise<StreamResult> {
  const deadline = Date.now() + BUSY_RETRY_LIMIT_MS;
  for (let delay = 1, attempt = 1; ; attempt++) {
    const outcome = executeRequest(stream, req);
    if (!outcome.retry) return outcome.result;
    if (Date.now() + delay > deadline) {
      ctx.log(`${req.type} on database ${stream.pool.name} still SQLITE_BUSY after ${attempt} attempts; giving up`);
      return outcome.result;
    }
    await sleep(delay);
    if (ctx.isClosing()) return outcome.result;
    delay = Math.min(delay * 2, BUSY_DELAY_MAX_MS);
  }
}

export async function runPipeline(ctx: PipelineContext, pool: DatabasePool, body: PipelineReqBody): Promise<PipelineRespBody> {
  const stream =
    body.baton === undefined || body.baton === null ? ctx.registry.open(pool) : ctx.registry.take(body.baton, pool);
  const results: StreamResult[] = [];
  try {
    for (const req of body.requests) {
      if (stream.closing) {
        results.push({ type: "error", error: { message: "the stream was closed by an earlier request", code: "STREAM_CLOSED" } });
      } else if (req.type === "close") {
        stream.closing = true;
        results.push({ type: "ok", response: { type: "close" } });
      } else {
        results.push(await runWithBusyRetry(ctx, stream, req));
      }
    }
  } catch (e) {
    ctx.registry.dispose(stream);
    throw e;
  }
  if (stream.closing || ctx.isClosing()) {
    ctx.registry.dispose(stream);
    return { baton: null, base_url: null, results };
  }
  return { baton: ctx.registry.park(stream), base_url: null, results };
}
