/**
 * A file's hash from its blocks (fileHash), the hex helpers under it and the password hashes that
 * share them, and the one-time conversion of manifests written when a file of several blocks was
 * named by the SHA-256 of all its bytes.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient, type Client } from "@libsql/client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EMPTY_SHA256, fileHash } from "../../functions/files/chunks.js";
import { fromHex, toHex } from "../../functions/util/hex.js";
import { hashFitsBlocks, sha256Hex } from "../../worker/files/sha256.js";
import { hashPassword, verifyPassword } from "../../worker/password.js";
import { convertFileHashes } from "../../worker/state/file-hashes.js";
import { migrate } from "../../worker/state/migrate.js";

const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");
const B1 = sha("block one");
const B2 = sha("block two");
const B3 = sha("block three");

describe("hex", () => {
  it("writes bytes as lowercase hex, two digits each, and reads them back", () => {
    expect(toHex(new Uint8Array([0, 1, 0xab, 0xff]))).toBe("0001abff");
    expect(toHex(new Uint8Array([0xde, 0xad]).buffer)).toBe("dead");
    expect([...fromHex("0001abff")]).toEqual([0, 1, 0xab, 0xff]);
    expect(toHex(fromHex(B1))).toBe(B1);
    expect(fromHex("")).toHaveLength(0);
  });
});

describe("password hashes (hex salt and hash)", () => {
  it("verify the password they were made from, and nothing else", async () => {
    const stored = await hashPassword("pit crew 2026");
    expect(stored).toMatch(/^pbkdf2-sha256\$210000\$[0-9a-f]{32}\$[0-9a-f]{64}$/);
    expect(await verifyPassword("pit crew 2026", stored)).toBe(true);
    expect(await verifyPassword("pit crew 2025", stored)).toBe(false);
    expect(await verifyPassword("pit crew 2026", "md5$1$00$00")).toBe(false);
  });
});

describe("fileHash", () => {
  it("is the block's hash for one block, the empty hash for none, and the SHA-256 of the digests for more", async () => {
    expect(fileHash([], sha)).toBe(EMPTY_SHA256);
    expect(fileHash([B1], sha)).toBe(B1);
    const digests = Buffer.concat([B1, B2, B3].map((b) => Buffer.from(b, "hex")));
    expect(digests.length).toBe(96);
    expect(fileHash([B1, B2, B3], sha)).toBe(sha(digests));
    // Order matters, and the worker's WebCrypto gives the agent's answer.
    expect(fileHash([B2, B1, B3], sha)).not.toBe(fileHash([B1, B2, B3], sha));
    expect(await fileHash([B1, B2, B3], sha256Hex)).toBe(sha(digests));
  });

  it("tells a hash that fits its blocks from one that does not", async () => {
    expect(await hashFitsBlocks({ hash: fileHash([B1, B2], sha), blocks: [B1, B2] })).toBe(true);
    expect(await hashFitsBlocks({ hash: sha("the bytes"), blocks: [B1, B2] })).toBe(false);
    expect(await hashFitsBlocks({ hash: B1, blocks: [B1] })).toBe(true);
    expect(await hashFitsBlocks({ hash: null, blocks: [] })).toBe(true);
  });
});

describe("convertFileHashes", () => {
  let dir: string;
  let db: Client;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "scoutsync-hashes-"));
    db = createClient({ url: `file:${path.join(dir, "state.db")}`, intMode: "number" });
    await migrate(db);
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const put = (p: string, hash: string | null, blocks: string[], disk: string | null, seq: number) =>
    db.execute({
      sql: "INSERT INTO files (path, hash, size, blocks, vv, stamp, deleted, seq, origin, disk_hash) VALUES (?, ?, ?, ?, '{}', 's', ?, ?, 'o', ?)",
      args: [p, hash, blocks.length * 1024 * 1024, JSON.stringify(blocks), hash === null ? 1 : 0, seq, disk],
    });
  const row = async (p: string) => (await db.execute({ sql: "SELECT hash, disk_hash, vv, stamp, seq FROM files WHERE path = ?", args: [p] })).rows[0];

  it("renames files of several blocks by their blocks, once, and leaves everything else alone", async () => {
    const oldBig = sha("all the bytes of big");
    const oldOther = sha("all the bytes of other");
    await put("big.bin", oldBig, [B1, B2], oldBig, 1);
    // On disk: another version than the manifest's, whose blocks are not known here.
    await put("moving.bin", sha("new bytes"), [B2, B3], oldOther, 2);
    await put("small.txt", B1, [B1], B1, 3);
    await put("gone.txt", null, [], null, 4);
    const already = fileHash([B3, B1], sha);
    await put("done.bin", already, [B3, B1], already, 5);

    expect(await convertFileHashes(db)).toBe(2);
    const big = fileHash([B1, B2], sha);
    expect(await row("big.bin")).toMatchObject({ hash: big, disk_hash: big, vv: "{}", stamp: "s", seq: 1 });
    expect(await row("moving.bin")).toMatchObject({ hash: fileHash([B2, B3], sha), disk_hash: oldOther, seq: 2 });
    expect(await row("small.txt")).toMatchObject({ hash: B1, disk_hash: B1 });
    expect(await row("gone.txt")).toMatchObject({ hash: null, disk_hash: null });
    expect(await row("done.bin")).toMatchObject({ hash: already, disk_hash: already });

    // Done once: a row written the old way afterwards (it cannot be, by this code) is not touched.
    await put("late.bin", oldBig, [B1, B3], oldBig, 6);
    expect(await convertFileHashes(db)).toBe(0);
    expect(await row("late.bin")).toMatchObject({ hash: oldBig });
  });

  it("marks a fresh manifest done at once", async () => {
    expect(await convertFileHashes(db)).toBe(0);
    const done = await db.execute("SELECT key FROM settings");
    expect(done.rows.map((r) => r["key"])).toContain("file_hash_of_blocks");
  });
});
