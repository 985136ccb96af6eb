// What the alert evaluator reads from the control database: an analyst's recent PII reads and the
// end of a grant. Both are index walks bounded by the rule's needs.
import { and, desc, eq, sql } from 'drizzle-orm';
import type { ControlDb } from '../db/client.js';
import { auditEvents, piiGrants } from '../db/schema.js';
import { auditWhere } from '../audit/filters.js';

/** Times of the newest `limit` pii.read events about `analyst` recorded after `since`. */
export async function recentReadTimes(db: ControlDb, analyst: string, since: Date, limit: number): Promise<Date[]> {
  const rows = await db
    .select({ at: auditEvents.at })
    .from(auditEvents)
    .where(auditWhere({ analyst, action: 'pii.read', from: since }))
    .orderBy(desc(auditEvents.id))
    .limit(limit);
  return rows.map((r) => new Date(r.at));
}

/** When the grant of `dataset` under `requestId` ends: the earlier of its expiry and its end. */
export async function grantEnd(db: ControlDb, requestId: number, dataset: string): Promise<Date | null> {
  const [row] = await db
    .select({ end: sql<string>`least(${piiGrants.expiresAt}, coalesce(${piiGrants.endedAt}, 'infinity'))` })
    .from(piiGrants)
    .where(and(eq(piiGrants.requestId, requestId), eq(piiGrants.dataset, dataset)));
  return row ? new Date(row.end) : null;
}
