/**
 * Folders as entries (issue #5) on three real sites: empty and nested folders appear and go away
 * everywhere, a folder deleted on one site while another put a file in it survives with the file,
 * a folder holding only files that never sync is kept, a folder and a file at one path end as the
 * folder plus the file's conflict copy, excluded folders never travel, and folders made or removed
 * while a site was stopped are found when it starts. Every comparison covers files and folders.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DIR, filesOf, filesStatus, restartSite, sha256, startMesh, stopMesh, stopSite, waitSame, type FolderMap, type RunningSite } from "./files-harness.js";
import { waitUntil } from "./site-harness.js";

let sites: RunningSite[] = [];
const [A, B, C] = [0, 1, 2] as const;
const site = (i: number) => sites[i]!;
const at = (i: number, rel: string) => path.join(site(i).instance, ...rel.split("/"));
const mkdir = (i: number, rel: string) => mkdirSync(at(i, rel), { recursive: true });
const write = (i: number, rel: string, data: string) => {
  mkdirSync(path.dirname(at(i, rel)), { recursive: true });
  writeFileSync(at(i, rel), data);
};
const isDir = (m: FolderMap, rel: string) => m[`${rel}/`] === DIR;
/**
 * Every site has recorded what it wrote. A user who deletes a folder in the milliseconds between
 * its arrival and that record loses the delete (a known limit, shared with files); these tests
 * are about deletes, not that race.
 */
const settled = () => waitUntil("every site to record what it wrote", async () => (await Promise.all(sites.map(filesStatus))).every((st) => st.pending === 0));
const under = (m: FolderMap, rel: string) => Object.keys(m).filter((p) => p.startsWith(`${rel}/`) && p !== `${rel}/`);

beforeAll(async () => {
  sites = await startMesh("folders", ["fa", "fb", "fc"]);
}, 120_000);

afterAll(async () => {
  await stopMesh(sites);
}, 60_000);

describe("folders between three sites", () => {
  it("an empty folder made on one site appears on all, and its delete removes it everywhere", async () => {
    mkdir(A, "empty");
    await waitSame(sites, "the empty folder everywhere", (m) => isDir(m, "empty"));
    await settled();
    rmSync(at(C, "empty"), { recursive: true });
    const m = await waitSame(sites, "the empty folder gone everywhere", (x) => !("empty/" in x));
    expect(under(m, "empty")).toEqual([]);
  });

  it("nested empty folders travel, and go away together", async () => {
    mkdir(B, "a/b/c");
    mkdir(B, "a/b2");
    const m = await waitSame(sites, "the nested folders everywhere", (x) => isDir(x, "a/b/c") && isDir(x, "a/b2"));
    expect(under(m, "a")).toEqual(["a/b/", "a/b/c/", "a/b2/"]);
    await settled();
    rmSync(at(A, "a"), { recursive: true });
    await waitSame(sites, "the nested folders gone everywhere", (x) => !("a/" in x) && under(x, "a").length === 0);
  });

  it("a folder deleted on one site while another put a file in it survives everywhere, with the file", async () => {
    write(A, "shared/old.txt", "old");
    await waitSame(sites, "shared/old.txt everywhere", (m) => m["shared/old.txt"] === sha256("old"));
    // fb is stopped, so the delete and the new file are truly concurrent.
    await stopSite(site(B));
    rmSync(at(A, "shared"), { recursive: true });
    await waitSame([site(A), site(C)], "the delete on fa and fc", (m) => !("shared/" in m));
    write(B, "shared/new.txt", "written on fb meanwhile");
    sites[B] = await restartSite(site(B));
    const m = await waitSame(sites, "the folder and the new file everywhere", (x) => isDir(x, "shared") && x["shared/new.txt"] === sha256("written on fb meanwhile") && !("shared/old.txt" in x), 60_000);
    expect(under(m, "shared")).toEqual(["shared/new.txt"]);
  }, 120_000);

  it("a folder holding only files that never sync is kept where they are, and comes back everywhere", async () => {
    mkdir(A, "logs-here");
    await waitSame(sites, "logs-here everywhere", (m) => isDir(m, "logs-here"));
    write(C, "logs-here/server.log", "a log line fc never sends");
    rmSync(at(A, "logs-here"), { recursive: true });
    await waitSame(sites, "logs-here back everywhere (fc keeps it for its log)", (m) => isDir(m, "logs-here"));
    expect(readFileSync(at(C, "logs-here/server.log"), "utf8")).toBe("a log line fc never sends");
    for (const i of [A, B]) expect(existsSync(at(i, "logs-here/server.log"))).toBe(false);
  });

  it("a folder and a file at one path end as the folder and the file's conflict copy on every site", async () => {
    await stopSite(site(C));
    write(A, "clash/inner.txt", "inside the folder");
    await waitSame([site(A), site(B)], "the folder on fa and fb", (m) => m["clash/inner.txt"] === sha256("inside the folder"));
    write(C, "clash", "fc's file, same name");
    sites[C] = await restartSite(site(C));
    const isCopy = (p: string) => /^clash\.sync-conflict-\d{8}-\d{6}-[0-9a-f]{7}$/.test(p);
    const m = await waitSame(sites, "the folder and the copy everywhere", (x) => isDir(x, "clash") && filesOf(x).some(isCopy), 60_000);
    expect(m["clash/inner.txt"]).toBe(sha256("inside the folder"));
    const copies = filesOf(m).filter(isCopy);
    expect(copies).toHaveLength(1);
    expect(m[copies[0]!]).toBe(sha256("fc's file, same name"));
  }, 120_000);

  it("finds folders made and removed while a site was stopped", async () => {
    mkdir(B, "was-here");
    await waitSame(sites, "was-here everywhere", (m) => isDir(m, "was-here"));
    await stopSite(site(B));
    rmSync(at(B, "was-here"), { recursive: true });
    mkdir(B, "made-offline/deep");
    sites[B] = await restartSite(site(B));
    const m = await waitSame(sites, "fb's offline changes everywhere", (x) => !("was-here/" in x) && isDir(x, "made-offline/deep"), 60_000);
    expect(under(m, "made-offline")).toEqual(["made-offline/deep/"]);
  }, 120_000);

  it("never copies excluded folders", async () => {
    write(A, ".syncignore", "private/\n");
    await waitSame(sites, ".syncignore everywhere", (m) => m[".syncignore"] === sha256("private/\n"));
    // The rules took effect on the sites that received them too.
    await new Promise((r) => setTimeout(r, 300));
    mkdir(B, "private/sub");
    mkdir(C, "backup.db/inner"); // built-in: *.db never syncs, folders included
    mkdir(A, "public-marker");
    await waitSame(sites, "the marker folder made after the excluded ones", (m) => isDir(m, "public-marker"));
    await new Promise((r) => setTimeout(r, 1_000));
    for (const [owner, rel] of [[B, "private"], [C, "backup.db"]] as const) {
      expect(existsSync(at(owner, rel))).toBe(true);
      for (const other of [A, B, C].filter((i) => i !== owner)) expect(existsSync(at(other, rel)), `${rel} on ${site(other).name}`).toBe(false);
    }
  });
});
