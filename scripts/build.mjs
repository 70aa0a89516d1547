// Bundles the worker (for workerd) and the local agent + CLI (for Node) with esbuild.
import { build } from "esbuild";
import { chmod, cp, mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const watchFree = { logLevel: "warning", sourcemap: "linked", absWorkingDir: root };

await mkdir(`${root}/dist`, { recursive: true });

await build({
  ...watchFree,
  entryPoints: ["worker/index.ts"],
  outfile: "dist/worker.js",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  conditions: ["workerd", "worker", "browser"],
  loader: { ".sql": "text" },
});

// Node programs: the CLI (the one bundle every child process runs) and, beside it, `npm run
// bench` and `npm run demo`. Native or self-locating packages stay in node_modules.
const requireShim = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";
const nodeBundle = (entryPoints, banner) =>
  build({
    ...watchFree,
    entryPoints,
    outdir: "dist",
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: ["libsql", "koffi", "miniflare", "esbuild", "playwright-core", "fsevents"],
    banner: { js: banner },
  });

await nodeBundle({ scoutsync: "local-agent/cli.ts" }, `#!/usr/bin/env node\n${requireShim}`);
await nodeBundle({ bench: "bench/main.ts", demo: "bench/demo.ts" }, requireShim);

// Runnable as ./dist/scoutsync.js too (npm sets the bit for the installed bin, a clone does not).
await chmod(`${root}/dist/scoutsync.js`, 0o755);

// htmx ships from the package, never from a CDN: sites are often offline.
await mkdir(`${root}/dist/static`, { recursive: true });
await cp(`${root}/static`, `${root}/dist/static`, { recursive: true });
await cp(`${root}/node_modules/htmx.org/dist/htmx.min.js`, `${root}/dist/static/htmx.min.js`);
