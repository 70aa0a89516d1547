/** POST /api/sync/settle: the agent asks whether a burst of work is over (worker/memory.ts). */
import { Hono } from "hono";
import type { AppEnv } from "../app.js";
import { requireLocal } from "../auth.js";
import { settle } from "../memory.js";

export function settleRoutes(): Hono<AppEnv> {
  return new Hono<AppEnv>().post("/settle", requireLocal(), (c) => c.json(settle(false)));
}
