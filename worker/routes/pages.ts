/**
 * The dashboard's static files, bundled into the worker as text. Served as Workers static assets
 * they cost every request, API calls included, a pass through Miniflare's asset router before the
 * worker saw it: ~0.6 ms of workerd CPU each, more than the worker's own handling of most calls.
 */
import { Hono } from "hono";
import { etag } from "hono/etag";
import htmx from "htmx.org/dist/htmx.min.js";
import index from "../../static/index.html";
import type { AppEnv } from "../app.js";

const HTML = "text/html; charset=utf-8";
const JS = "text/javascript; charset=utf-8";

export function pageRoutes(): Hono<AppEnv> {
  const page = (body: string, type: string) => () =>
    new Response(body, { headers: { "content-type": type, "cache-control": "no-cache" } });
  return new Hono<AppEnv>()
    .use(etag())
    .get("/", page(index, HTML))
    .get("/index.html", page(index, HTML))
    .get("/htmx.min.js", page(htmx, JS));
}
