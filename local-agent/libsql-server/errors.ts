// Errors as the Hrana protocol carries them ({message, code}), and the two error classes the
// server raises itself: per-request errors (they become a StreamResult of type "error") and
// HTTP-level errors (the whole pipeline is refused with a JSON body).

export interface ProtoError {
  message: string;
  code: string;
}

/** An error that belongs in the result of one request (or one batch step), not in the HTTP status. */
export class RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "RequestError";
  }
}

/** An error that refuses the whole HTTP request. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

function sqliteCode(e: Error): string | undefined {
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : undefined;
}

/** Extended SQLite result code of an error thrown by `libsql` (e.g. "SQLITE_BUSY"), if any. */
export function sqliteErrorCode(e: unknown): string | undefined {
  return e instanceof Error ? sqliteCode(e) : undefined;
}

export function toProtoError(e: unknown): ProtoError {
  if (e instanceof RequestError) return { message: e.message, code: e.code };
  if (e instanceof Error) {
    return { message: e.message, code: sqliteCode(e) ?? "SERVER_ERROR" };
  }
  return { message: String(e), code: "SERVER_ERROR" };
}

/** Codes after which SQLite may leave the failed statement active (not reset), see connection.ts. */
export function isBusyFamily(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"));
}
