import Database from "libsql";
import { describe, expect, it } from "vitest";
import { analyzeSql } from "../../local-agent/libsql-server/sql-text.js";

describe("analyzeSql: statements", () => {
  it("splits on top-level semicolons only", () => {
    const sql = `CREATE TABLE a(x TEXT DEFAULT ';');
      -- a comment; with a semicolon
      INSERT INTO a VALUES ('it''s; fine'), ("q;"), ([b;]), (\`c;\`);
      /* block; comment */ SELECT 1;;  ;
      SELECT 2 -- trailing`;
    expect(analyzeSql(sql).statements).toEqual([
      "CREATE TABLE a(x TEXT DEFAULT ';')",
      `-- a comment; with a semicolon
      INSERT INTO a VALUES ('it''s; fine'), ("q;"), ([b;]), (\`c;\`)`,
      "/* block; comment */ SELECT 1",
      "SELECT 2 -- trailing",
    ]);
  });

  it("keeps a trigger body (with CASE ... END inside) in one statement", () => {
    const trigger = `CREATE TEMP TRIGGER tr AFTER INSERT ON a BEGIN
        UPDATE a SET x = CASE WHEN new.x IS NULL THEN 'n' ELSE new.x END;
        INSERT INTO log VALUES (1);
      END`;
    const info = analyzeSql(`${trigger}; SELECT 1;`);
    expect(info.statements).toEqual([trigger, "SELECT 1"]);
  });

  it("finds no statement in blank or comment-only text", () => {
    expect(analyzeSql("").statements).toEqual([]);
    expect(analyzeSql("  ;\n-- nothing\n/* here */ ;").statements).toEqual([]);
  });

  it("classifies the first statement", () => {
    expect(analyzeSql("begin immediate").kind).toBe("begin");
    expect(analyzeSql("END TRANSACTION").kind).toBe("commit");
    expect(analyzeSql("rollback").kind).toBe("rollback");
    expect(analyzeSql("ROLLBACK TO sp1").kind).toBe("other");
    expect(analyzeSql("/* c */ select 1").kind).toBe("select");
    expect(analyzeSql("attach 'x.db' as x").kind).toBe("attach");
    expect(analyzeSql("VACUUM INTO '/tmp/x.db'").kind).toBe("vacuum_into");
    expect(analyzeSql("VACUUM").kind).toBe("other");
    const explain = analyzeSql("EXPLAIN QUERY PLAN DELETE FROM a");
    expect(explain.isExplain).toBe(true);
    expect(explain.kind).toBe("select");
  });

  it("tells pragmas that set connection state from pragmas that read", () => {
    expect(analyzeSql("PRAGMA foreign_keys = ON")).toMatchObject({ kind: "pragma", pragmaName: "foreign_keys", setsPragma: true });
    expect(analyzeSql("pragma main.table_info(a)")).toMatchObject({ pragmaName: "table_info", setsPragma: false, touchesConnectionState: false });
    expect(analyzeSql("PRAGMA data_version").touchesConnectionState).toBe(false);
    expect(analyzeSql("PRAGMA busy_timeout(5000)").touchesConnectionState).toBe(true);
    expect(analyzeSql("CREATE TEMP TABLE t(x)").touchesConnectionState).toBe(true);
    expect(analyzeSql("create table temp.t(x)").touchesConnectionState).toBe(true);
    expect(analyzeSql("CREATE TABLE t(x)").touchesConnectionState).toBe(false);
  });

  it("finds the temp schema by its name, not by text inside strings and comments", () => {
    expect(analyzeSql('INSERT INTO "TEMP" . t VALUES (1)').touchesConnectionState).toBe(true);
    expect(analyzeSql("SELECT * FROM [temp].sqlite_schema").touchesConnectionState).toBe(true);
    expect(analyzeSql("SELECT 'temp.txt', x FROM files -- temp.x").touchesConnectionState).toBe(false);
    expect(analyzeSql("SELECT name FROM pragma_table_xinfo(?)").touchesConnectionState).toBe(false);
  });
});

describe("analyzeSql: cache", () => {
  // The shape of the sync engine's bulk INSERTs: 500 rows of 11 parameters, ~20,000 characters.
  const bulk = (rows: number): string =>
    `INSERT INTO entries (a, b, c, d, e, f, g, h, i, j, k) VALUES ${Array.from({ length: rows }, () => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`;

  it("returns the same analysis for the same text, equal to a fresh one", () => {
    const sql = bulk(500);
    const first = analyzeSql(sql);
    expect(analyzeSql(sql)).toBe(first);
    // Trailing blanks make a different key with the same analysis: computed afresh.
    const fresh = analyzeSql(`${sql}  `);
    expect(fresh).not.toBe(first);
    expect(fresh).toEqual(first);
    expect(first.params).toHaveLength(5_500);
    expect(first.statements).toEqual([sql]);
    expect(first.kind).toBe("other");
  });

  it("does not keep texts too long to be worth holding", () => {
    const huge = `SELECT '${"x".repeat(256 * 1024)}'`;
    const first = analyzeSql(huge);
    expect(analyzeSql(huge)).not.toBe(first);
    expect(analyzeSql(huge)).toEqual(first);
  });

  it("keeps the recently used entries when it is full", () => {
    const hot = analyzeSql("SELECT 'hot'");
    const cold = analyzeSql("SELECT 'cold'");
    for (let i = 0; i < 1_500; i++) {
      analyzeSql(`SELECT ${i}`);
      if (i % 100 === 0) expect(analyzeSql("SELECT 'hot'")).toBe(hot);
    }
    expect(analyzeSql("SELECT 'hot'")).toBe(hot);
    expect(analyzeSql("SELECT 'cold'")).not.toBe(cold);
  });
});

describe("analyzeSql: parameters", () => {
  it("numbers parameters as SQLite does", () => {
    const info = analyzeSql("SELECT ?, :a, ?5, @b, :a, ?, $c::d(e), ?2");
    expect(info.params).toEqual([
      { name: null, referenced: true },
      { name: ":a", referenced: true }, // ?2 refers to it as well
      { name: null, referenced: false },
      { name: null, referenced: false },
      { name: "?5", referenced: true },
      { name: "@b", referenced: true },
      { name: null, referenced: true },
      { name: "$c::d(e)", referenced: true },
    ]);
  });

  it("ignores parameter-like text in strings, identifiers and comments", () => {
    expect(analyzeSql(`SELECT ':a', "?", [@b], \`$c\`, a$b -- :d\n /* ? */ FROM t`).params).toEqual([]);
  });

  // SQLite itself is the reference: EXPLAIN lists each OP_Variable with its index (p1) and name (p4).
  const cases = [
    "SELECT ?1, ?, :x, @y, $z, :x, ?3",
    "SELECT ?, ?, ?",
    "SELECT :a || $a || @a",
    "SELECT ?7",
    "SELECT $v::w(1), json_extract('{\"a\":1}', '$.a'), :é",
    "INSERT INTO t VALUES (:id, ?, ?10) RETURNING :id",
  ];
  it.each(cases)("matches SQLite for %s", (sql) => {
    const db = new Database(":memory:");
    try {
      db.exec("CREATE TABLE t(a, b, c)");
      const program = db.prepare(`EXPLAIN ${sql}`).raw(true).all() as unknown[][];
      const fromSqlite = new Map<number, string | null>();
      for (const op of program) {
        if (op[1] === "Variable") fromSqlite.set(Number(op[2]), (op[5] as string | null) ?? null);
      }
      const info = analyzeSql(sql);
      const maxIndex = Math.max(0, ...fromSqlite.keys());
      expect(info.params.length).toBe(maxIndex);
      for (const [index, name] of fromSqlite) {
        const slot = info.params[index - 1];
        expect(slot?.referenced).toBe(true);
        // SQLite leaves p4 empty for a bare `?`.
        expect(slot?.name ?? null).toBe(name);
      }
    } finally {
      db.close();
    }
  });
});
