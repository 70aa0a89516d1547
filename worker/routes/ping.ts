import { Hono } from "hono";
import type { Ping } from "../../functions/wire/ping.js";
import type { AppEnv } from "../app.js";
import { services } from "../services.js";
import { readClock } from "../../functions/db/engine.js";
import { readMeta } from "../files/store.js";

export function pingRoutes(): Hono<AppEnv> {
  return new Hono<AppEnv>().get("/ping", async (c) => {
    const s = await services(c.env);
    const [clock, files] = await Promise.all([readClock(s.appDb, s.engine), readMeta(s.state)]);
    const now = Date.now();
    const body: Ping = {
      site: s.siteId,
      name: s.config.SITE_NAME,
      version: s.config.SCOUTSYNC_VERSION,
      clock: { wallMs: now, hlc: clock.hlc },
      uptime: Math.max(0, Math.round((now - s.startedAt) / 1000)),
      seq: clock.seq,
      filesSeq: files.seq,
    };
    return c.json(body);
  });
}
