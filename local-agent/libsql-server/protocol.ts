// Hrana over HTTP (v2 pipeline, JSON): zod schemas of what clients send, types of what the
// server answers, and the JSON encoding of answers. Unknown fields are ignored (zod strips
// them), as the spec asks for forward compatibility.

import { z } from "zod";
import type { ProtoError } from "./errors.js";
import { hranaValueProblem, sqlToHrana, type HranaValue } from "./values.js";

const Int32 = z.number().int().min(-2_147_483_648).max(2_147_483_647);

// A plain check rather than a union of objects: a 500-row INSERT has thousands of arguments.
export const ValueSchema = z.custom<HranaValue>().superRefine((v, ctx) => {
  const problem = hranaValueProblem(v);
  if (problem !== undefined) {
    ctx.addIssue({ code: "custom", message: problem.message, path: problem.field === undefined ? [] : [problem.field] });
  }
});

const oneSqlSource = (s: { sql?: string | null | undefined; sql_id?: number | null | undefined }): boolean =>
  (s.sql !== undefined && s.sql !== null) !== (s.sql_id !== undefined && s.sql_id !== null);
const ONE_SQL_SOURCE = "exactly one of `sql` and `sql_id` must be given";

export const StmtSchema = z
  .object({
    sql: z.string().nullish(),
    sql_id: Int32.nullish(),
    args: z.array(ValueSchema).optional(),
    named_args: z.array(z.object({ name: z.string(), value: ValueSchema })).optional(),
    want_rows: z.boolean().optional(),
  })
  .refine(oneSqlSource, ONE_SQL_SOURCE);
export type Stmt = z.infer<typeof StmtSchema>;

export type BatchCond =
  | { type: "ok"; step: number }
  | { type: "error"; step: number }
  | { type: "not"; cond: BatchCond }
  | { type: "and"; conds: BatchCond[] }
  | { type: "or"; conds: BatchCond[] }
  | { type: "is_autocommit" };

const MAX_COND_DEPTH = 64;

/** Why `v` is not a BatchCond, or undefined if it is. Hand-written: a recursive zod schema cannot be compiled. */
function batchCondProblem(v: unknown, depth = 0): string | undefined {
  if (depth > MAX_COND_DEPTH) return `conditions nest deeper than ${MAX_COND_DEPTH} levels`;
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "expected a condition object";
  const c = v as Record<string, unknown>;
  switch (c.type) {
    case "ok":
    case "error": {
      const step = c.step;
      return typeof step === "number" && Number.isInteger(step) && step >= 0 && step <= 4_294_967_295
        ? undefined
        : `a condition of type ${c.type} needs a non-negative integer \`step\``;
    }
    case "not":
      return batchCondProblem(c.cond, depth + 1);
    case "and":
    case "or": {
      if (!Array.isArray(c.conds)) return `a condition of type ${c.type} needs an array \`conds\``;
      for (const sub of c.conds) {
        const problem = batchCondProblem(sub, depth + 1);
        if (problem !== undefined) return problem;
      }
      return undefined;
    }
    case "is_autocommit":
      return undefined;
    default:
      return `unknown condition type ${JSON.stringify(c.type)}; expected ok, error, not, and, or or is_autocommit`;
  }
}

export const BatchCondSchema = z.custom<BatchCond>().superRefine((v, ctx) => {
  const problem = batchCondProblem(v);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

export const BatchSchema = z.object({
  steps: z.array(z.object({ condition: BatchCondSchema.nullish(), stmt: StmtSchema })),
});
export type Batch = z.infer<typeof BatchSchema>;

const SqlSource = {
  sql: z.string().nullish(),
  sql_id: Int32.nullish(),
};

export const StreamRequestSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("close") }),
  z.object({ type: z.literal("execute"), stmt: StmtSchema }),
  z.object({ type: z.literal("batch"), batch: BatchSchema }),
  z.object({ type: z.literal("sequence"), ...SqlSource }).refine(oneSqlSource, ONE_SQL_SOURCE),
  z.object({ type: z.literal("describe"), ...SqlSource }).refine(oneSqlSource, ONE_SQL_SOURCE),
  z.object({ type: z.literal("store_sql"), sql_id: Int32, sql: z.string() }),
  z.object({ type: z.literal("close_sql"), sql_id: Int32 }),
  z.object({ type: z.literal("get_autocommit") }),
]);
export type StreamRequest = z.infer<typeof StreamRequestSchema>;

// Compiled ahead of time: validating a 2,000-step batch at runtime costs more than running it.
export const PipelineReqBodySchema = z.compile(
  z.object({
    baton: z.string().nullish(),
    requests: z.array(StreamRequestSchema),
  }),
);
export type PipelineReqBody = z.infer<typeof PipelineReqBodySchema>;

export interface Col {
  name: string | null;
  decltype: string | null;
}

/**
 * A row as `libsql` reads it with `.raw().safeIntegers()` (null, bigint, number, string or
 * bytes), kept so until the response is written: encodePipelineResponse writes each cell as its
 * Hrana value without building an object per cell.
 */
export type SqlRow = unknown[];

export interface StmtResult {
  cols: Col[];
  rows: SqlRow[];
  affected_row_count: number;
  last_insert_rowid: string | null;
  /** sqld's extension. Approximated by the rows returned: `libsql` exposes no statement counters. */
  rows_read: number;
  /** sqld's extension. Approximated by affected_row_count. */
  rows_written: number;
  query_duration_ms: number;
}

export interface BatchResult {
  step_results: (StmtResult | null)[];
  step_errors: (ProtoError | null)[];
}

export interface DescribeResult {
  params: { name: string | null }[];
  cols: Col[];
  is_explain: boolean;
  is_readonly: boolean;
}

export type StreamResponse =
  | { type: "close" }
  | { type: "execute"; result: StmtResult }
  | { type: "batch"; result: BatchResult }
  | { type: "sequence" }
  | { type: "describe"; result: DescribeResult }
  | { type: "store_sql" }
  | { type: "close_sql" }
  | { type: "get_autocommit"; is_autocommit: boolean };

export type StreamResult = { type: "ok"; response: StreamResponse } | { type: "error"; error: ProtoError };

export interface PipelineRespBody {
  baton: string | null;
  base_url: string | null;
  results: StreamResult[];
}

/** Short, readable description of why a body failed validation. */
export function describeZodError(error: z.ZodError): string {
  const parts = error.issues.slice(0, 3).map((issue) => {
    const path = issue.path
      .map((p, i) => (typeof p === "number" ? `[${p}]` : `${i === 0 ? "" : "."}${String(p)}`))
      .join("");
    return path === "" ? issue.message : `${path}: ${issue.message}`;
  });
  const more = error.issues.length > 3 ? ` (and ${error.issues.length - 3} more problems)` : "";
  return parts.join("; ") + more;
}

// A float whose value JSON.stringify turned into null can only come from ±Infinity (SQLite
// stores NaN as NULL); the marker below cannot occur inside a JSON string, where quotes are escaped.
const NON_FINITE_MARK = '"type":"float","value":null';

/** JSON text of a response; ±Infinity is written as ±1e999, which JSON.parse reads back as ±Infinity. */
export function encodeJson(body: unknown): string {
  const text = JSON.stringify(body);
  if (!text.includes(NON_FINITE_MARK)) return text;
  const token = `\u0000nonfinite:${Math.random()}`;
  const replaced = JSON.stringify(body, (_key: string, v: unknown) =>
    typeof v === "number" && !Number.isFinite(v) ? `${token}${v > 0 ? "+" : "-"}` : v,
  );
  const quoted = (sign: string): string => JSON.stringify(`${token}${sign}`);
  return replaced.split(quoted("+")).join("1e999").split(quoted("-")).join("-1e999");
}

/** Collects JSON text as UTF-8 in one growing Buffer, so that no string of the whole body is built. */
class JsonBytes {
  #buf = Buffer.allocUnsafe(16 * 1024);
  #length = 0;

  add(json: string): void {
    // Room for the worst case, 3 bytes per UTF-16 unit, so that `write` never truncates.
    const needed = this.#length + 3 * json.length;
    if (needed > this.#buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(2 * this.#buf.length, needed));
      this.#buf.copy(bigger, 0, 0, this.#length);
      this.#buf = bigger;
    }
    this.#length += this.#buf.write(json, this.#length, "utf8");
  }

  bytes(): Buffer {
    return this.#buf.subarray(0, this.#length);
  }
}

const NULL_CELL = '{"type":"null"}';

/** JSON of one cell's Hrana value: the text encodeJson(sqlToHrana(v)) gives, without the object. */
function cellJson(v: unknown): string {
  switch (typeof v) {
    case "bigint":
      return `{"type":"integer","value":"${v}"}`;
    case "string":
      return `{"type":"text","value":${JSON.stringify(v)}}`;
    case "number":
      // A finite number prints as JSON.stringify prints it; ±Infinity takes the general path.
      if (Number.isFinite(v)) return `{"type":"float","value":${v}}`;
      break;
    default:
      if (v === null) return NULL_CELL;
      if (v instanceof Uint8Array) {
        return `{"type":"blob","base64":"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64")}"}`;
      }
  }
  return encodeJson(sqlToHrana(v));
}

function addStmtResult(out: JsonBytes, result: StmtResult): void {
  // Same key order as JSON.stringify(result) when cols and rows come first, as runStmt builds it.
  const { cols, rows, ...counts } = result;
  out.add(`{"cols":${JSON.stringify(cols)},"rows":[`);
  let open = "[";
  for (const row of rows) {
    let json = open;
    for (let c = 0; c < row.length; c++) json += (c === 0 ? "" : ",") + cellJson(row[c]);
    // One `add` per row: short strings are cheap to join, and few calls cross into C++.
    out.add(`${json}]`);
    open = ",[";
  }
  out.add(`],${JSON.stringify(counts).slice(1)}`);
}

function addStreamResult(out: JsonBytes, result: StreamResult): void {
  if (result.type === "ok" && result.response.type === "execute") {
    out.add('{"type":"ok","response":{"type":"execute","result":');
    addStmtResult(out, result.response.result);
    out.add("}}");
  } else if (result.type === "ok" && result.response.type === "batch") {
    const { step_results: steps, step_errors: errors } = result.response.result;
    out.add('{"type":"ok","response":{"type":"batch","result":{"step_results":[');
    steps.forEach((step, i) => {
      if (i > 0) out.add(",");
      if (step === null) out.add("null");
      else addStmtResult(out, step);
    });
    out.add(`],"step_errors":${JSON.stringify(errors)}}}}`);
  } else {
    // No rows in the other results.
    out.add(JSON.stringify(result));
  }
}

/**
 * The UTF-8 JSON of a pipeline response: the text encodeJson gives for the same body with every
 * row cell as its Hrana value, written straight into one Buffer.
 */
export function encodePipelineResponse(body: PipelineRespBody): Buffer {
  const out = new JsonBytes();
  out.add(`{"baton":${JSON.stringify(body.baton)},"base_url":${JSON.stringify(body.base_url)},"results":[`);
  body.results.forEach((result, i) => {
    if (i > 0) out.add(",");
    addStreamResult(out, result);
  });
  out.add("]}");
  return out.bytes();
}
