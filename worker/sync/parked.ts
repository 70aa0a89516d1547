/** Rows that could not be placed on this site (constraint, missing table or parent), for status and the dashboard. */
import type { Services } from "../services.js";

export async function parkedCount(s: Services): Promise<number> {
  try {
    const rs = await s.app.execute("SELECT count(*) FROM _scoutsync_rows WHERE why IS NOT NULL");
    return Number(rs.rows[0]?.[0] ?? 0);
  } catch {
    return 0; // capture not installed yet
  }
}
