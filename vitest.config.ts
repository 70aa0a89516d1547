import { readFileSync } from "node:fs";
import { defineConfig } from "vitest/config";

export default defineConfig({
  // The dashboard's files are text modules in the worker, as in scripts/build.mjs and wrangler.toml.
  plugins: [
    {
      name: "dashboard-files-as-text",
      enforce: "pre",
      load(id) {
        if (/\.html$|[\\/]htmx\.min\.js$/.test(id)) return `export default ${JSON.stringify(readFileSync(id, "utf8"))};`;
        return null;
      },
    },
  ],
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start real processes; two cores do not gain from more workers.
    maxWorkers: 2,
    fileParallelism: true,
    // Through the plugin above, not loaded by Node as a package file.
    server: { deps: { inline: ["htmx.org"] } },
  },
});
