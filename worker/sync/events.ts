/** The site's event log (shown on the dashboard's log page), trimmed so it never grows without bound. */
import { lt, sql } from "drizzle-orm";
import type { Services } from "../services.js";
import { events } from "../state/schema.js";

const KEEP = 5000;

export async function logEvent(s: Services, level: "info" | "warn" | "error", kind: string, message: string): Promise<void> {
  const [row] = await s.db.insert(events).values({ at: Date.now(), level, kind, message: message.slice(0, 2000) }).returning({ id: events.id });
  if (row && row.id % 100 === 0) await s.db.delete(events).where(lt(events.id, sql`${row.id - KEEP}`));
}
