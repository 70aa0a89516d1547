import path from "node:path";
import { describe, expect, it } from "vitest";
import { CHILD_CONFIG_ENV, ChildConfigSchema, type ChildConfig } from "../../local-agent/child-protocol.js";
import { dialHost, resolveDataDir, resolveStartConfig, UsageError, urlAuthority } from "../../local-agent/config.js";
import { childEnv } from "../../local-agent/launcher.js";

const cwd = "/home/team/site";

function usageMessage(flags: Parameters<typeof resolveStartConfig>[0]): string {
  try {
    resolveStartConfig(flags, cwd, "laptop");
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as UsageError).message;
  }
  throw new Error("expected a UsageError");
}

describe("resolveStartConfig", () => {
  it("fills in the documented defaults, resolved against the cwd", () => {
    expect(resolveStartConfig({}, cwd, "laptop")).toEqual({
      instance: path.resolve(cwd, "instance"),
      data: path.resolve(cwd, "data"),
      db: path.resolve(cwd, "data", "app.db"),
      port: 8787,
      host: "0.0.0.0",
      dbPort: 0,
      name: "laptop",
    });
  });

  it("takes every flag", () => {
    const c = resolveStartConfig(
      { instance: "i", data: "/var/d", db: "../app.sqlite", port: "9000", host: "127.0.0.1", "db-port": "9001", name: " pit " },
      cwd,
      "laptop",
    );
    expect(c).toEqual({
      instance: path.resolve(cwd, "i"),
      data: "/var/d",
      db: path.resolve(cwd, "../app.sqlite"),
      port: 9000,
      host: "127.0.0.1",
      dbPort: 9001,
      name: "pit",
    });
  });

  it("--db defaults inside the given --data", () => {
    expect(resolveStartConfig({ data: "elsewhere" }, cwd, "x").db).toBe(path.resolve(cwd, "elsewhere", "app.db"));
  });

  it.each([
    [{ port: "abc" }, /^--port must be a port number from 1 to 65535 \(got "abc"\)$/],
    [{ port: "0" }, /^--port must be a port number/],
    [{ port: "65536" }, /^--port must be a port number/],
    [{ port: "80.5" }, /^--port must be a port number/],
    [{ port: "" }, /^--port must be a port number/],
    [{ "db-port": "-1" }, /^--db-port must be a port number/],
    [{ "db-port": "99999" }, /^--db-port must be a port number/],
    [{ host: "not a host" }, /^--host must be an IP address or a host name/],
    [{ host: "" }, /^--host /],
    [{ name: "" }, /^--name must be 1 to 64 characters/],
    [{ name: "x".repeat(65) }, /^--name must be 1 to 64 characters/],
    [{ name: "bad\u0007name" }, /^--name must not contain control characters/],
    [{ data: "  " }, /^--data must not be empty/],
    [{ instance: "" }, /^--instance must not be empty/],
    [{ db: "" }, /^--db must not be empty/],
  ])("rejects %j naming the flag", (flags, message) => {
    expect(usageMessage(flags)).toMatch(message);
  });

  it("rejects combinations that would break the site", () => {
    expect(usageMessage({ port: "9000", "db-port": "9000" })).toMatch(/^--db-port 9000 is the same as --port/);
    expect(usageMessage({ data: "x", instance: "x" })).toMatch(/^--instance and --data are the same folder/);
    expect(usageMessage({ data: "inst/data", instance: "inst" })).toMatch(/^--data .* is inside --instance/);
    expect(usageMessage({ db: "inst/app.db", instance: "inst" })).toMatch(/^--db .* is inside --instance/);
  });

  it("accepts IPv6 and host names", () => {
    expect(resolveStartConfig({ host: "::1" }, cwd, "x").host).toBe("::1");
    expect(resolveStartConfig({ host: "localhost" }, cwd, "x").host).toBe("localhost");
  });

  it("says which command's help to read", () => {
    try {
      resolveStartConfig({ port: "x" }, cwd, "x");
    } catch (err) {
      expect((err as UsageError).command).toBe("start");
    }
  });
});

describe("resolveDataDir", () => {
  it("defaults to ./data and resolves relative paths", () => {
    expect(resolveDataDir(undefined, cwd, "status")).toBe(path.resolve(cwd, "data"));
    expect(resolveDataDir("../other", cwd, "status")).toBe(path.resolve(cwd, "../other"));
  });
  it("rejects an empty --data", () => {
    expect(() => resolveDataDir("", cwd, "peer list")).toThrow(/--data must not be empty/);
  });
});

describe("dialHost / urlAuthority", () => {
  it("dials loopback for wildcard binds, the address itself otherwise", () => {
    expect(dialHost("0.0.0.0")).toBe("127.0.0.1");
    expect(dialHost("::")).toBe("::1");
    expect(dialHost("192.168.1.5")).toBe("192.168.1.5");
  });
  it("brackets IPv6 literals", () => {
    expect(urlAuthority("::1", 80)).toBe("[::1]:80");
    expect(urlAuthority("127.0.0.1", 80)).toBe("127.0.0.1:80");
  });
});

describe("childEnv", () => {
  const config: ChildConfig = {
    site: { ...resolveStartConfig({}, cwd, "laptop") },
    dbPort: 0,
    scriptPath: "/opt/scoutsync/dist/worker.js",
    version: "0.0.0",
  };

  it("hands the children our environment and their config, with two malloc arenas by default", () => {
    const env = childEnv({ PATH: "/usr/bin", LANG: "C" }, config);
    expect(env).toMatchObject({ PATH: "/usr/bin", LANG: "C", MALLOC_ARENA_MAX: "2", MALLOC_MMAP_THRESHOLD_: "65536" });
    expect(ChildConfigSchema.parse(JSON.parse(env[CHILD_CONFIG_ENV]!))).toEqual(config);
  });

  it("leaves malloc alone when the user tuned it", () => {
    expect(childEnv({ MALLOC_ARENA_MAX: "8" }, config)).toMatchObject({ MALLOC_ARENA_MAX: "8" });
    expect(childEnv({ MALLOC_ARENA_MAX: "8" }, config).MALLOC_MMAP_THRESHOLD_).toBeUndefined();
    expect(childEnv({ MALLOC_MMAP_THRESHOLD_: "262144" }, config)).toMatchObject({ MALLOC_MMAP_THRESHOLD_: "262144" });
    expect(childEnv({ MALLOC_MMAP_THRESHOLD_: "262144" }, config).MALLOC_ARENA_MAX).toBeUndefined();
  });
});
