// Bundles the worker (for workerd) and the local agent + CLI (for Node) with esbuild.
import { build } from "esbuild";
import { chmod, mkdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const watchFree = { logLevel: "warning", sourcemap: "linked", absWorkingDir: root };

await mkdir(`${root}/dist`, { recursive: true });

// The dashboard's copy of htmx goes into the worker as text (never from a CDN: sites are often
// offline); a loader cannot say so, as it would apply to every .js file.
const htmxAsText = {
  name: "htmx-as-text",
  setup(b) {
    b.onLoad({ filter: /[\\/]htmx\.min\.js$/ }, async (args) => ({ contents: await readFile(args.path, "utf8"), loader: "text" }));
  },
};

await build({
  ...watchFree,
  entryPoints: ["worker/index.ts"],
  outfile: "dist/worker.js",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  conditions: ["workerd", "worker", "browser"],
  loader: { ".sql": "text", ".html": "text" },
  plugins: [htmxAsText],
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
