/** HTML fragments for the htmx admin pages (static/). Public ones show only what ping shows. */
import { Hono } from "hono";
import { html } from "hono/html";
import { readClock } from "../../functions/db/engine.js";
import type { AppEnv } from "../app.js";
import { services } from "../services.js";

export function fragmentRoutes(): Hono<AppEnv> {
  return new Hono<AppEnv>().get("/site", async (c) => {
    const s = await services(c.env);
    const clock = await readClock(s.appDb, s.engine);
    const uptime = Math.round((Date.now() - s.startedAt) / 1000);
    return c.html(html`<dt>Site</dt><dd>${s.config.SITE_NAME}</dd>
<dt>Site id</dt><dd><code>${s.siteId}</code></dd>
<dt>Version</dt><dd>${s.config.SCOUTSYNC_VERSION}</dd>
<dt>Up for</dt><dd>${uptime} s</dd>
<dt>Changes recorded</dt><dd>${clock.seq}</dd>`);
  });
}
