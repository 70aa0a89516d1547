import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { afterAll, describe, expect, it } from "vitest";
import { mallocTrim } from "../../local-agent/malloc-trim.js";

const dir = mkdtempSync(join(tmpdir(), "malloc-trim-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Private memory of this process (MiB), from /proc. */
function anonMiB(): number {
  const kib = /RssAnon:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
  return Number(kib) / 1024;
}

describe.runIf(process.platform === "linux")("mallocTrim", () => {
  it("hands back the pages a page cache freed below memory still in use", () => {
    const file = join(dir, "pages.db");
    const setup = new Database(file);
    setup.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    const insert = setup.prepare("INSERT INTO t (v) VALUES (?)");
    setup.exec("BEGIN");
    for (let i = 0; i < 60_000; i++) insert.run(`${i}`.padEnd(400, "x"));
    setup.exec("COMMIT");
    setup.close();

    // Two caches filled one after the other: the first one's pages lie below the second's, so
    // freeing them leaves no free space at the top of the heap that free() could give back.
    const [below, above] = [new Database(file), new Database(file)];
    try {
      for (const db of [below, above]) {
        db.exec("PRAGMA cache_size=-65536");
        expect(db.prepare("SELECT sum(length(v)) AS n FROM t").get()).toMatchObject({ n: 24_000_000 });
      }
      below.exec("PRAGMA shrink_memory");
      const freed = anonMiB();
      expect(mallocTrim()).toBe(true);
      // The first cache held ~26 MB of pages.
      expect(freed - anonMiB()).toBeGreaterThan(16);
    } finally {
      below.close();
      above.close();
    }
  });
});
