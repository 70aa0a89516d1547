/**
 * Instance-folder workloads: JSON configs, images and one large file, as a scouting app keeps
 * them, or plain sets of equal binary files for the throughput benchmarks. A file's bytes are a
 * function of (seed, path), so every site and every anchor gets exactly the same folder.
 */
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import path from "node:path";
import { seeded, type Random } from "./random.js";

/** Large files are generated and written in slices of this size. */
const SLICE = 4 * 1024 * 1024;

export interface FileSpec {
  /** Relative, with forward slashes. */
  path: string;
  size: number;
  kind: "json" | "image" | "binary";
}

export interface FolderSizes {
  configs: number;
  images: number;
  /** MiB of the one large file; 0 for none. */
  largeMiB: number;
}

/** A scouting app's instance folder: configs per team, match images, one recording. */
export function instanceFolder(seed: number | string, sizes: FolderSizes): FileSpec[] {
  const r = seeded(seed).fork("folder");
  const out: FileSpec[] = [];
  for (let i = 0; i < sizes.configs; i++) out.push({ path: `configs/team-${String(i % 100).padStart(3, "0")}/config-${i}.json`, size: r.int(200, 4096), kind: "json" });
  for (let i = 0; i < sizes.images; i++) out.push({ path: `images/match-${Math.floor(i / 6)}/robot-${i}.jpg`, size: r.int(8 * 1024, 64 * 1024), kind: "image" });
  if (sizes.largeMiB > 0) out.push({ path: "recordings/finals.bin", size: sizes.largeMiB * 1024 * 1024, kind: "binary" });
  return out;
}

/** `count` binary files of `bytes` each under `dir` (B5's 200 × 1 MiB, and the 2,000 small files). */
export function binaryFiles(dir: string, count: number, bytes: number, kind: FileSpec["kind"] = "binary"): FileSpec[] {
  const ext = kind === "json" ? "json" : "bin";
  return Array.from({ length: count }, (_, i) => ({ path: `${dir}/file-${String(i).padStart(5, "0")}.${ext}`, size: bytes, kind }));
}

/** The bytes of one file: deterministic in (seed, path, size). Large files come in slices. */
export function* contentSlices(seed: number | string, spec: FileSpec): Generator<Uint8Array> {
  if (spec.size <= SLICE) {
    const r = seeded(seed).fork(`file:${spec.path}`);
    yield spec.kind === "json" ? jsonBytes(r, spec.size) : binaryBytes(r, spec.size, spec.kind === "image");
    return;
  }
  for (let off = 0, i = 0; off < spec.size; off += SLICE, i++) yield seeded(seed).fork(`file:${spec.path}#${i}`).bytes(Math.min(SLICE, spec.size - off));
}

export function fileContent(seed: number | string, spec: FileSpec): Uint8Array {
  const parts = [...contentSlices(seed, spec)];
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** Valid JSON of exactly `size` bytes (ASCII only; a "pad" field takes up the slack). */
function jsonBytes(r: Random, size: number): Uint8Array {
  const doc = { version: r.int(1, 9), scoring: { auto: r.int(0, 20), teleop: r.int(0, 60) }, notes: [] as string[], pad: "" };
  const length = () => JSON.stringify(doc).length + 1;
  while (length() + 60 < size) doc.notes.push(`note ${r.int(0, 1e6).toString(36)} ${"x".repeat(r.int(5, 40))}`);
  doc.pad = "x".repeat(Math.max(0, size - length()));
  const text = length() <= size ? `${JSON.stringify(doc)}\n` : `{}${" ".repeat(Math.max(0, size - 3))}\n`;
  return new TextEncoder().encode(text);
}

function binaryBytes(r: Random, size: number, jpeg: boolean): Uint8Array {
  const out = r.bytes(size).slice();
  if (jpeg && size >= 4) out.set([0xff, 0xd8, 0xff, 0xe0]);
  return out;
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Writes the files under `root` (a large file slice by slice, never whole in memory); returns path → SHA-256. */
export function writeFolder(root: string, seed: number | string, specs: readonly FileSpec[]): Map<string, string> {
  const hashes = new Map<string, string>();
  for (const spec of specs) {
    const file = path.join(root, ...spec.path.split("/"));
    mkdirSync(path.dirname(file), { recursive: true });
    const hash = createHash("sha256");
    const fd = openSync(file, "w");
    try {
      for (const part of contentSlices(seed, spec)) {
        hash.update(part);
        writeSync(fd, part);
      }
    } finally {
      closeSync(fd);
    }
    hashes.set(spec.path, hash.digest("hex"));
  }
  return hashes;
}


export function totalBytes(specs: readonly FileSpec[]): number {
  return specs.reduce((s, f) => s + f.size, 0);
}
