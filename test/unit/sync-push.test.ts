/**
 * A captured change pushed to every peer at once (worker/sync/peers.ts pushAll), over a real
 * state database, an in-process app database and peers that record what they are sent: one
 * read of our rows serves all the pushes, the peers' rows are not rewritten per change, and rows
 * pulled from a peer are not read again to be skipped by our pushes to it.
 */
import { createClient, type Client } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { captureLocal, readChanges } from "../../functions/db/engine.js";
import type { SqlDb } from "../../functions/db/port.js";
import { ChangeBatchSchema, type ChangeBatch } from "../../functions/wire/database.js";
import type { Services } from "../../worker/services.js";
import { migrate } from "../../worker/state/migrate.js";
import * as schema from "../../worker/state/schema.js";
import { applyPulled, captureAndPush, pushAll } from "../../worker/sync/peers.js";
import { SCHEMA, newReplica, overTheWire, siteId, type Replica } from "../property/model.js";

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

/** A peer that accepts every batch pushed to it and keeps it. */
async function acceptingPeer(): Promise<{ url: string; got: ChangeBatch[] }> {
  const got: ChangeBatch[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const ok = req.method === "POST" && req.url === "/api/sync/database/apply";
      if (ok) got.push(ChangeBatchSchema.parse(JSON.parse(body)));
      res.writeHead(ok ? 200 : 404, { "content-type": "application/json" });
      res.end(JSON.stringify(ok ? { applied: 1, unchanged: 0, parked: 0 } : { error: "not here" }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got };
}

/** Site A's app database, its state database with two accepting peers, and A's services over them. */
async function siteWithTwoPeers() {
  const app: Replica = newReplica("A", siteId(1), { ddl: SCHEMA });
  cleanup.push(() => app.db.close());
  const reads: number[] = [];
  const counted: SqlDb = { ...app.sql, read: (fn) => (reads.push(1), app.sql.read(fn)) };
  const client: Client = createClient({ url: ":memory:", intMode: "number" });
  cleanup.push(() => client.close());
  await migrate(client as unknown as Parameters<typeof migrate>[0]);
  const db = drizzle(client, { schema });
  const peers = [await acceptingPeer(), await acceptingPeer()];
  const sites = [siteId(2), siteId(3)];
  for (const [i, p] of peers.entries()) await db.insert(schema.peers).values({ id: `p${i}`, url: p.url, addedAt: 0, remoteSite: sites[i]! });
  const s = { db, siteId: app.site, appDb: counted, engine: app.ctx } as unknown as Services;
  return { app, reads, db, peers, sites, s };
}

describe("pushing a change to every peer", () => {
  it("reads our rows once for all peers, tells each who else gets them, and writes a peer's row at most once a second", async () => {
    const { app, reads, db, peers, sites, s } = await siteWithTwoPeers();
    const peerRows = async () => (await db.select().from(schema.peers).orderBy(schema.peers.id).all()).map((r) => ({ pushed: r.pushedSeq, syncedAt: r.lastSyncAt }));

    app.db.exec("INSERT INTO teams (id, number, name) VALUES (1, 254, 'The Cheesy Poofs')");
    const first = await captureLocal(app.sql, app.ctx);
    await pushAll(s, ["rows"]);
    expect(reads, "one read transaction for both pushes").toHaveLength(1);
    for (const [i, p] of peers.entries()) {
      expect(p.got.map((b) => b.changes.map((ch) => ch.s.vals["name"]))).toEqual([["The Cheesy Poofs"]]);
      expect(p.got[0]!.also, "the other peer gets it from us too").toEqual([sites[1 - i]]);
    }
    const after = await peerRows();
    expect(after.map((r) => r.pushed)).toEqual([first.seq, first.seq]);
    expect(after.every((r) => r.syncedAt !== null)).toBe(true);

    app.db.exec("UPDATE teams SET name = 'Cheesy Poofs' WHERE id = 1");
    const second = await captureLocal(app.sql, app.ctx);
    await pushAll(s, ["rows"]);
    expect(reads).toHaveLength(2);
    expect(peers.map((p) => p.got.length)).toEqual([2, 2]);
    // The checkpoints move with every page; the rows' sync times, shown to the second, stay.
    expect(await peerRows()).toEqual(after.map((r) => ({ ...r, pushed: second.seq })));
  });

  it("a write captured by any route (a peer's pull too) is pushed to every peer at once", async () => {
    const { app, peers, s } = await siteWithTwoPeers();
    expect((await captureAndPush(s)).push, "nothing yet (the first capture sets up the triggers)").toBeNull();
    app.db.exec("INSERT INTO teams (id, number, name) VALUES (2, 1678, 'Citrus Circuits')");
    const first = await captureAndPush(s);
    expect(first.result.captured).toBe(1);
    expect(first.push, "the capture found a write: it owns the push").not.toBeNull();
    await first.push;
    expect(peers.map((p) => p.got.flatMap((b) => b.changes.map((ch) => ch.s.vals["name"])))).toEqual([["Citrus Circuits"], ["Citrus Circuits"]]);
    // The agent's capture call right after finds nothing: no second push.
    const again = await captureAndPush(s);
    expect(again).toEqual({ result: { captured: 0, seq: first.result.seq }, push: null });
    expect(peers.map((p) => p.got.length)).toEqual([1, 1]);
  });

  it("rows pulled from a peer and applied as they came are not walked by our next push to it; after a local write or a merge they are", async () => {
    const { app, db, peers, sites, s } = await siteWithTwoPeers();
    await captureLocal(app.sql, app.ctx);
    const b: Replica = newReplica("B", sites[0]!, { ddl: SCHEMA });
    cleanup.push(() => b.db.close());
    const pushed = async () => (await db.select().from(schema.peers).orderBy(schema.peers.id).all()).map((r) => r.pushedSeq);
    /** B's changes after `since`, applied on A as A's pull from B delivers them. */
    const fromB = async (since: number) => {
      await captureLocal(b.sql, b.ctx);
      const page = await readChanges(b.sql, b.ctx, since, 100);
      return { result: await applyPulled(s, b.site, overTheWire(b.site, page.changes)), last: page.last };
    };

    b.db.exec("INSERT INTO teams (id, number, name) VALUES (1, 254, 'The Cheesy Poofs'), (2, 1678, 'Citrus Circuits')");
    const first = await fromB(0);
    expect(first.result).toMatchObject({ applied: 2, unheld: 0 });
    expect(await pushed(), "B holds what it sent; the other peer does not").toEqual([first.result.seq, 0]);
    await pushAll(s, ["rows"]);
    expect(peers.map((p) => p.got.flatMap((x) => x.changes.map((ch) => ch.s.vals["name"])))).toEqual([[], ["The Cheesy Poofs", "Citrus Circuits"]]);

    // A local write not pushed yet comes before the next batch's sequences: the checkpoint stays.
    app.db.exec("INSERT INTO teams (id, number, name) VALUES (3, 971, 'Spartan Robotics')");
    b.db.exec("UPDATE teams SET tag = 'NorCal' WHERE id = 2");
    const second = await fromB(first.last);
    expect(second.result).toMatchObject({ applied: 1, captured: 1, unheld: 0 });
    expect((await pushed())[0]).toBe(first.result.seq);
    await pushAll(s, ["rows"]);
    expect(peers[0]!.got.flatMap((x) => x.changes.map((ch) => ch.s.vals["name"])), "B gets A's row, not its own back").toEqual(["Spartan Robotics"]);
    expect(await pushed()).toEqual([second.result.seq, second.result.seq]);

    // A state merged with a local edit is news to B: it must be pushed, so the checkpoint stays.
    app.db.exec("UPDATE teams SET number = 1679 WHERE id = 2");
    await captureLocal(app.sql, app.ctx);
    await pushAll(s, ["rows"]);
    const before = await pushed();
    b.db.exec("UPDATE teams SET name = 'Citrus' WHERE id = 2");
    const third = await fromB(second.last);
    expect(third.result).toMatchObject({ applied: 1, unheld: 1 });
    expect(await pushed()).toEqual(before);
    await pushAll(s, ["rows"]);
    expect(peers[0]!.got.at(-1)!.changes.map((ch) => [ch.s.vals["name"], ch.s.vals["number"]])).toEqual([["Citrus", 1679]]);
  });
});
