import { describe, expect, it } from "vitest";
import type { ReadyLine } from "../../local-agent/child-protocol.js";
import { Supervised } from "../../local-agent/supervise.js";

/** A child that announces itself, then again 50 ms later (as the worker host does for a restarted workerd), and idles. */
const CHILD = `
const line = (extra) => console.log(JSON.stringify({ scoutsync: "ready", pid: process.pid, ...extra }));
line({ workerdPid: 1 });
setTimeout(() => line({ workerdPid: 2 }), 50);
setInterval(() => undefined, 1000);
process.on("SIGTERM", () => process.exit(0));
`;

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ok(), what).toBe(true);
}

describe("a supervised child", () => {
  it("tells a later ready line of the same process from the first one of each (re)start", async () => {
    const seen: { pid: number; workerd: unknown; again: boolean }[] = [];
    const sup = new Supervised({
      kind: "worker",
      args: ["-e", CHILD],
      env: () => process.env,
      out: () => undefined,
      err: () => undefined,
      onReady: (ready: ReadyLine, again) => seen.push({ pid: ready.pid, workerd: ready["workerdPid"], again }),
      onRestart: () => undefined,
      onGiveUp: () => undefined,
      stopGraceMs: 1000,
    });
    try {
      const first = await sup.start();
      await until("the second announcement", () => seen.length === 2);
      expect(seen).toEqual([
        { pid: first.pid, workerd: 1, again: false },
        { pid: first.pid, workerd: 2, again: true },
      ]);
      expect(sup.lastReady?.["workerdPid"]).toBe(2);

      process.kill(first.pid, "SIGKILL");
      await until("the restarted child's announcements", () => seen.length === 4);
      expect(seen[2]!.pid).not.toBe(first.pid);
      expect(seen.slice(2).map((s) => s.again)).toEqual([false, true]);
    } finally {
      await sup.stop();
    }
  });
});
