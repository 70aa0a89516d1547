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

await build({
  ...watchFree,
  entryPoints: { scoutsync: "local-agent/cli.ts" },
  outdir: "dist",
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // Native or self-locating packages stay in node_modules.
  external: ["libsql", "miniflare", "esbuild", "playwright-core", "fsevents"],
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
});

// `npm run bench` and `npm run demo` (bench/): Node programs beside the CLI, same externals.
await build({
  ...watchFree,
  entryPoints: { bench: "bench/main.ts", demo: "bench/demo.ts" },
  outdir: "dist",
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: ["libsql", "miniflare", "esbuild", "playwright-core", "fsevents"],
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
});

// Runnable as ./dist/scoutsync.js too (npm sets the bit for the installed bin, a clone does not).
await chmod(`${root}/dist/scoutsync.js`, 0o755);

// htmx ships from the package, never from a CDN: sites are often offline.
await mkdir(`${root}/dist/static`, { recursive: true });
await cp(`${root}/static`, `${root}/dist/static`, { recursive: true });
await cp(`${root}/node_modules/htmx.org/dist/htmx.min.js`, `${root}/dist/static/htmx.min.js`);
