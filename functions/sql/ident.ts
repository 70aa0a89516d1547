/**
 * The one quoting helper for SQL built from reflected names and values.
 * Every table or column name that reaches generated SQL goes through quoteIdent, so names with
 * quotes, spaces, keywords or unicode are safe; string literals go through quoteText.
 */

/** Quotes an identifier for SQLite: `"` doubled inside double quotes. Refuses NUL, which SQLite cannot store in a name. */
export function quoteIdent(name: string): string {
  if (name.includes("\u0000")) throw new Error(`identifier contains a NUL character: ${JSON.stringify(name)}`);
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a text literal for SQLite: `'` doubled inside single quotes. */
export function quoteText(text: string): string {
  if (text.includes("\u0000")) throw new Error(`text literal contains a NUL character: ${JSON.stringify(text)}`);
  return `'${text.replaceAll("'", "''")}'`;
}

/** True for tables scoutsync must never sync or touch: SQLite's own and scoutsync's. */
export function isInternalTable(name: string): boolean {
  const lower = name.toLowerCase();
  return lower.startsWith("sqlite_") || lower.startsWith("_scoutsync_") || lower.startsWith("__drizzle");
}
