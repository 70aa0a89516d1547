/**
 * Builds dist/ once before any test file runs: the integration tests start the real bundle
 * (`node dist/scoutsync.js`), exactly what `npm start` runs.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = fileURLToPath(new URL("..", import.meta.url));
  execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" });
}
