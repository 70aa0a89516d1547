// Lexical analysis of SQL text, mirroring SQLite's own tokenizer closely enough to split a
// script into statements (sqlite3_complete's state machine), number its parameters
// (sqlite3ExprAssignVarNumber) and classify a statement by its leading keywords. The `libsql`
// package exposes neither statement tails nor parameter names, so the server needs this to
// bind named arguments, reject multi-statement `execute`, and decide when a BUSY retry is safe.

type TokenKind = "ws" | "semi" | "word" | "param" | "other";

interface Token {
  kind: TokenKind;
  start: number;
  end: number;
}

export interface ParamSlot {
  /** The parameter's name with its prefix (`:a`, `@a`, `$a`, `?3`), or null for `?`. */
  readonly name: string | null;
  /** False for indexes that `?NNN` skipped over: SQLite counts them but nothing uses them. */
  readonly referenced: boolean;
}

export type StatementKind =
  | "begin"
  | "commit"
  | "rollback"
  | "savepoint"
  | "release"
  | "select"
  | "pragma"
  | "attach"
  | "vacuum_into"
  | "other";

export interface SqlInfo {
  /** Statements of the text, without their terminating semicolons; empty ones dropped. */
  readonly statements: readonly string[];
  /** Parameter slots of the whole text, index 0 describing SQLite's parameter 1. */
  readonly params: readonly ParamSlot[];
  /** Classification of the first statement. */
  readonly kind: StatementKind;
  readonly isExplain: boolean;
  /** `PRAGMA x(...)` / `PRAGMA x = ...` that is not a pure read of the pragma. */
  readonly setsPragma: boolean;
  /** PRAGMA name (lower case, schema prefix dropped) when kind is "pragma". */
  readonly pragmaName: string | null;
  /**
   * The statement can leave state on the connection that a later stream must not inherit
   * (connection-level pragmas, temp objects, attached databases).
   */
  readonly touchesConnectionState: boolean;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d || c === 0x0b;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** SQLite's IdChar: letters, digits, `_`, `$` and every non-ASCII character. */
function isIdChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    isDigit(c) ||
    c === 0x5f ||
    c === 0x24 ||
    c >= 0x80
  );
}

function isIdStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c >= 0x80;
}

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const start = i;
    const c = sql.charCodeAt(i);
    let kind: TokenKind;
    if (isSpace(c)) {
      while (i < n && isSpace(sql.charCodeAt(i))) i++;
      kind = "ws";
    } else if (c === 0x2d /* - */ && sql.charCodeAt(i + 1) === 0x2d) {
      const nl = sql.indexOf("\n", i + 2);
      i = nl < 0 ? n : nl + 1;
      kind = "ws";
    } else if (c === 0x2f /* / */ && sql.charCodeAt(i + 1) === 0x2a /* * */) {
      const close = sql.indexOf("*/", i + 2);
      i = close < 0 ? n : close + 2;
      kind = "ws";
    } else if (c === 0x3b /* ; */) {
      i++;
      kind = "semi";
    } else if (c === 0x27 || c === 0x22 || c === 0x60) {
      // '...', "..." and `...`; a doubled delimiter is an escaped one.
      i++;
      for (;;) {
        const close = sql.indexOf(String.fromCharCode(c), i);
        if (close < 0) {
          i = n;
          break;
        }
        if (sql.charCodeAt(close + 1) === c) {
          i = close + 2;
          continue;
        }
        i = close + 1;
        break;
      }
      kind = "other";
    } else if (c === 0x5b /* [ */) {
      const close = sql.indexOf("]", i + 1);
      i = close < 0 ? n : close + 1;
      kind = "other";
    } else if (c === 0x3f /* ? */) {
      i++;
      while (i < n && isDigit(sql.charCodeAt(i))) i++;
      kind = "param";
    } else if (c === 0x3a || c === 0x40 || c === 0x24 || c === 0x23) {
      // :name @name $name #name, with Tcl-style `::` and `(...)` suffixes for `$`-like names.
      i++;
      let nameChars = 0;
      let illegal = false;
      while (i < n) {
        const d = sql.charCodeAt(i);
        if (isIdChar(d)) {
          nameChars++;
          i++;
        } else if (d === 0x28 /* ( */ && nameChars > 0) {
          i++;
          while (i < n && !isSpace(sql.charCodeAt(i)) && sql.charCodeAt(i) !== 0x29) i++;
          if (i < n && sql.charCodeAt(i) === 0x29) i++;
          else illegal = true;
          break;
        } else if (d === 0x3a && sql.charCodeAt(i + 1) === 0x3a) {
          i += 2;
        } else {
          break;
        }
      }
      kind = nameChars === 0 || illegal ? "other" : "param";
    } else if (isIdStart(c)) {
      i++;
      while (i < n && isIdChar(sql.charCodeAt(i))) i++;
      kind = "word";
    } else if (isDigit(c) || (c === 0x2e && isDigit(sql.charCodeAt(i + 1)))) {
      i++;
      while (i < n) {
        const d = sql.charCodeAt(i);
        if (isIdChar(d) || d === 0x2e) {
          i++;
        } else if ((d === 0x2b || d === 0x2d) && (sql[i - 1] === "e" || sql[i - 1] === "E")) {
          i++;
        } else {
          break;
        }
      }
      kind = "other";
    } else {
      i++;
      kind = "other";
    }
    tokens.push({ kind, start, end: i });
  }
  return tokens;
}

// sqlite3_complete's token classes and transition table (src/complete.c).
const TK_SEMI = 0;
const TK_WS = 1;
const TK_OTHER = 2;
const TK_EXPLAIN = 3;
const TK_CREATE = 4;
const TK_TEMP = 5;
const TK_TRIGGER = 6;
const TK_END = 7;
const TRANSITIONS: readonly (readonly number[])[] = [
  /* 0 INVALID */ [1, 0, 2, 3, 4, 2, 2, 2],
  /* 1 START   */ [1, 1, 2, 3, 4, 2, 2, 2],
  /* 2 NORMAL  */ [1, 2, 2, 2, 2, 2, 2, 2],
  /* 3 EXPLAIN */ [1, 3, 3, 2, 4, 2, 2, 2],
  /* 4 CREATE  */ [1, 4, 2, 2, 2, 4, 5, 2],
  /* 5 TRIGGER */ [6, 5, 5, 5, 5, 5, 5, 5],
  /* 6 SEMI    */ [6, 6, 5, 5, 5, 5, 5, 7],
  /* 7 END     */ [1, 7, 5, 5, 5, 5, 5, 5],
];
const STATE_START = 1;

function completeClass(sql: string, t: Token): number {
  switch (t.kind) {
    case "ws":
      return TK_WS;
    case "semi":
      return TK_SEMI;
    case "word":
      switch (sql.slice(t.start, t.end).toUpperCase()) {
        case "EXPLAIN":
          return TK_EXPLAIN;
        case "CREATE":
          return TK_CREATE;
        case "TEMP":
        case "TEMPORARY":
          return TK_TEMP;
        case "TRIGGER":
          return TK_TRIGGER;
        case "END":
          return TK_END;
        default:
          return TK_OTHER;
      }
    default:
      return TK_OTHER;
  }
}

function splitStatements(sql: string, tokens: Token[]): string[] {
  const statements: string[] = [];
  let state = 0;
  let pieceStart = 0;
  let hasContent = false;
  const flush = (end: number): void => {
    if (hasContent) statements.push(sql.slice(pieceStart, end).trim());
    hasContent = false;
  };
  for (const t of tokens) {
    const cls = completeClass(sql, t);
    const next = TRANSITIONS[state]?.[cls] ?? 2;
    if (cls === TK_SEMI && next === STATE_START) {
      flush(t.start);
      pieceStart = t.end;
    } else if (cls !== TK_WS && cls !== TK_SEMI) {
      hasContent = true;
    }
    state = next;
  }
  flush(sql.length);
  return statements;
}

// Shared by every unnamed slot: cached analyses of bulk statements hold thousands of them.
const ANONYMOUS: ParamSlot = Object.freeze({ name: null, referenced: true });
const SKIPPED: ParamSlot = Object.freeze({ name: null, referenced: false });

function numberParams(sql: string, tokens: Token[]): ParamSlot[] {
  const slots: ParamSlot[] = [];
  const byName = new Map<string, number>();
  for (const t of tokens) {
    if (t.kind !== "param") continue;
    if (t.end - t.start === 1 && sql.charCodeAt(t.start) === 0x3f /* ? */) {
      slots.push(ANONYMOUS);
      continue;
    }
    const text = sql.slice(t.start, t.end);
    if (text[0] === "?") {
      const index = Number(text.slice(1));
      // SQLite refuses such indexes when preparing; never allocate for them.
      if (!Number.isSafeInteger(index) || index < 1 || index > 1_000_000) continue;
      while (slots.length < index) slots.push(SKIPPED);
      const slot = slots[index - 1];
      if (slot !== undefined && !slot.referenced) {
        slots[index - 1] = { name: text, referenced: true };
      }
      continue;
    }
    if (!byName.has(text)) {
      slots.push({ name: text, referenced: true });
      byName.set(text, slots.length);
    }
  }
  return slots;
}

/** Pragmas whose parenthesised argument selects what to read rather than setting a value. */
const READING_PRAGMAS = new Set([
  "table_info",
  "table_xinfo",
  "table_list",
  "index_info",
  "index_xinfo",
  "index_list",
  "foreign_key_list",
  "foreign_key_check",
  "integrity_check",
  "quick_check",
  "wal_checkpoint",
  "optimize",
  "incremental_vacuum",
]);

function classify(sql: string, tokens: Token[]): Omit<SqlInfo, "statements" | "params"> {
  // Leading words of the first statement (up to its first semicolon).
  const words: string[] = [];
  const meaningful: Token[] = [];
  let sawTemp = false;
  let namesTempSchema = false;
  for (const t of tokens) {
    if (t.kind === "semi") {
      if (meaningful.length > 0) break;
      continue;
    }
    if (t.kind === "ws") continue;
    // `temp.x` (or `"temp".x`) names the temp schema without the TEMP keyword.
    const before = meaningful[meaningful.length - 1];
    if (before !== undefined && isDot(sql, t) && unquote(sql.slice(before.start, before.end)).toLowerCase() === "temp") {
      namesTempSchema = true;
    }
    meaningful.push(t);
    if (t.kind === "word") {
      const w = sql.slice(t.start, t.end).toUpperCase();
      if (w === "TEMP" || w === "TEMPORARY") sawTemp = true;
      if (words.length < 8) words.push(w);
    }
  }
  let offset = 0;
  const first = meaningful[0];
  const firstWord = first?.kind === "word" ? words[0] : undefined;
  const isExplain = firstWord === "EXPLAIN";
  if (isExplain) offset = 1;
  const lead = words[offset];
  let kind: StatementKind = "other";
  let setsPragma = false;
  let pragmaName: string | null = null;
  switch (lead) {
    case "BEGIN":
      kind = "begin";
      break;
    case "COMMIT":
    case "END":
      kind = "commit";
      break;
    case "ROLLBACK":
      // ROLLBACK TO <savepoint> keeps the transaction open.
      kind = words.includes("TO") ? "other" : "rollback";
      break;
    case "SAVEPOINT":
      kind = "savepoint";
      break;
    case "RELEASE":
      kind = "release";
      break;
    case "SELECT":
    case "VALUES":
      kind = "select";
      break;
    case "ATTACH":
      kind = "attach";
      break;
    case "VACUUM":
      kind = words.includes("INTO") ? "vacuum_into" : "other";
      break;
    case "PRAGMA": {
      kind = "pragma";
      const start = meaningful.findIndex((t) => t.kind === "word" && sql.slice(t.start, t.end).toUpperCase() === "PRAGMA");
      const rest = meaningful.slice(start + 1);
      // PRAGMA [schema.]name [= value | (value)]
      let nameTok = rest[0];
      if (rest[1] !== undefined && sql.slice(rest[1].start, rest[1].end) === ".") nameTok = rest[2];
      pragmaName = nameTok === undefined ? null : unquote(sql.slice(nameTok.start, nameTok.end)).toLowerCase();
      const hasEq = rest.some((t) => sql.slice(t.start, t.end) === "=");
      const hasParen = rest.some((t) => sql.slice(t.start, t.end) === "(");
      setsPragma = hasEq || (hasParen && (pragmaName === null || !READING_PRAGMAS.has(pragmaName)));
      break;
    }
    default:
      kind = "other";
  }
  if (isExplain) {
    // EXPLAIN compiles but never runs the statement.
    return { kind: "select", isExplain, setsPragma: false, pragmaName: null, touchesConnectionState: false };
  }
  const touchesConnectionState =
    setsPragma ||
    kind === "attach" ||
    lead === "DETACH" ||
    (sawTemp && (lead === "CREATE" || lead === "ALTER" || lead === "DROP")) ||
    namesTempSchema;
  return { kind, isExplain, setsPragma, pragmaName, touchesConnectionState };
}

function isDot(sql: string, t: Token): boolean {
  return t.end - t.start === 1 && sql.charCodeAt(t.start) === 0x2e;
}

function unquote(name: string): string {
  const q = name[0];
  if ((q === '"' || q === "`" || q === "'") && name.endsWith(q) && name.length >= 2) {
    return name.slice(1, -1).split(q + q).join(q);
  }
  if (q === "[" && name.endsWith("]")) return name.slice(1, -1);
  return name;
}

// Batches repeat the same SQL texts, and the bulk ones are long (an INSERT of 500 rows of 11
// columns is ~20,000 characters and 5,500 parameters): analyses are memoised, least recently
// used out first, within a bound on entries and one on the characters they hold (with their
// parameter slots, at most ~10 MB).
const CACHE_ENTRIES = 1_000;
const CACHE_CHARS = 2 * 1024 * 1024;
const CACHEABLE_LENGTH = 256 * 1024;
const cache = new Map<string, SqlInfo>();
let cachedChars = 0;

function analyze(sql: string): SqlInfo {
  const tokens = tokenize(sql);
  return {
    statements: splitStatements(sql, tokens),
    params: numberParams(sql, tokens),
    ...classify(sql, tokens),
  };
}

/** Analyses SQL text. The result may be shared with other callers: never change it. */
export function analyzeSql(sql: string): SqlInfo {
  const hit = cache.get(sql);
  if (hit !== undefined) {
    // Map keeps insertion order: re-inserting makes this the most recently used entry.
    cache.delete(sql);
    cache.set(sql, hit);
    return hit;
  }
  const info = analyze(sql);
  if (sql.length <= CACHEABLE_LENGTH) {
    cache.set(sql, info);
    cachedChars += sql.length;
    for (const oldest of cache.keys()) {
      if (cache.size <= CACHE_ENTRIES && cachedChars <= CACHE_CHARS) break;
      cache.delete(oldest);
      cachedChars -= oldest.length;
    }
  }
  return info;
}
