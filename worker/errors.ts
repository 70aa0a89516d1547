import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ErrorBody } from "../functions/wire/ping.js";

/** An expected failure with a status, a stable code and, where useful, what to do next. */
export function fail(status: ContentfulStatusCode, code: string, error: string, hint?: string): never {
  const body: ErrorBody = hint ? { error, code, hint } : { error, code };
  throw new HTTPException(status, { res: Response.json(body, { status }) });
}
