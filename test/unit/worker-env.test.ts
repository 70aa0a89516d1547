import { describe, expect, it } from "vitest";
import { parseEnv } from "../../worker/env.js";

const base = { LIBSQL_URL: "http://127.0.0.1:8080" };

describe("the worker's bindings", () => {
  it("take the site's start time, so the uptime outlives a restarted workerd; a relay without it has none", () => {
    expect(parseEnv({ ...base, SITE_STARTED_AT: "1796392396690" }).SITE_STARTED_AT).toBe(1796392396690);
    expect(parseEnv(base).SITE_STARTED_AT).toBeUndefined();
  });

  it("refuse a start time that is not a time, naming the binding", () => {
    expect(() => parseEnv({ ...base, SITE_STARTED_AT: "soon" })).toThrow(/SITE_STARTED_AT/);
    expect(() => parseEnv({ ...base, SITE_STARTED_AT: "-5" })).toThrow(/SITE_STARTED_AT/);
  });
});
