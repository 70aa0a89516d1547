/** zod validation of request bodies and queries, with 400 answers that name the field. */
import type { Context } from "hono";
import type { z } from "zod";
import { fail } from "./errors.js";

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid input";
  const where = issue.path.length ? issue.path.join(".") : "body";
  return `${where}: ${issue.message}${error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problems)` : ""}`;
}

export async function jsonBody<S extends z.ZodType>(c: Context, schema: S, maxBytes: number): Promise<z.output<S>> {
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > maxBytes) fail(413, "too_large", `request body of ${declared} bytes is over the limit of ${maxBytes}`);
  const text = await c.req.text();
  if (text.length > maxBytes) fail(413, "too_large", `request body is over the limit of ${maxBytes} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    fail(400, "bad_json", "request body is not valid JSON");
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) fail(400, "invalid", describe(parsed.error));
  return parsed.data;
}

export function queryParams<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) fail(400, "invalid", describe(parsed.error));
  return parsed.data;
}
