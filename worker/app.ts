/**
 * The worker's HTTP API. Routes are grouped by concern under routes/; this file wires them and
 * turns every failure into a JSON body with a status, a code and a message.
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ErrorBody } from "../functions/wire/ping.js";
import type { Env } from "./env.js";
import { noteWork } from "./memory.js";
import { adminRoutes } from "./routes/admin.js";
import { databaseRoutes } from "./routes/database.js";
import { fileRoutes } from "./routes/files.js";
import { fragmentRoutes } from "./routes/fragments.js";
import { pageRoutes } from "./routes/pages.js";
import { pingRoutes } from "./routes/ping.js";
import { selftestRoutes } from "./routes/selftest.js";
import { settleRoutes } from "./routes/settle.js";
import { tickRoutes } from "./routes/tick.js";

export type AppEnv = { Bindings: Env };

/** The routes that move data (worker/memory.ts); the agent's polls and the status reads are not work. */
export const WORK_ROUTES = [
  "/api/sync/database/capture",
  "/api/sync/database/changes",
  "/api/sync/database/apply",
  "/api/sync/files/upload",
  "/api/sync/files/materialized",
  "/api/sync/files/changes",
  "/api/sync/files/apply",
  "/api/sync/files/download",
];

export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  for (const path of WORK_ROUTES) app.use(path, noteWork);
  app.route("/api/sync", pingRoutes());
  app.route("/api/sync", tickRoutes());
  app.route("/api/sync", settleRoutes());
  app.route("/api/sync/database", databaseRoutes());
  app.route("/api/sync/files", fileRoutes());
  app.route("/api/admin", selftestRoutes());
  app.route("/api/admin", adminRoutes());
  app.route("/ui", fragmentRoutes());
  app.route("/", pageRoutes());
  app.notFound((c) => c.json<ErrorBody>({ error: `no route for ${c.req.method} ${new URL(c.req.url).pathname}`, code: "not_found" }, 404));
  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse();
    console.error(`${c.req.method} ${new URL(c.req.url).pathname}: ${err.stack ?? err.message}`);
    return c.json<ErrorBody>({ error: err.message, code: "internal" }, 500);
  });
  return app;
}
