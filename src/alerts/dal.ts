// What the alert evaluator reads from the control database, once per ingested batch: the analysts'
// recent PII reads and the ends of the grants the batch's reads were made under. Each is one
// statement for the whole batch, bounded per analyst by the rule's needs.
import { sql } from 'drizzle-orm';
import type { ControlDb } from '../db/client.js';
import { pgArray } from '../db/pg-array.js';
import { AT_SKEW_MS } from '../audit/filters.js';

/**
 * Per analyst, the times of their newest `limit` pii.read events recorded at or after their `since`.
 * Each walk is the (subject, id) index newest first, stopped at the id before which no event can be
 * that recent (AT_SKEW_MS, as the access log's own filters do).
 */
export async function recentReadTimes(db: ControlDb, since: Map<string, Date>, limit: number): Promise<Map<string, Date[]>> {
  const out = new Map<string, Date[]>([...since.keys()].map((a) => [a, []]));
  if (since.size === 0) return out;
  const names = [...since.keys()];
  const { rows } = await db.execute<{ analyst: string; at: string }>(sql`
    SELECT a.analyst, t.at
      FROM unnest(${pgArray(names)}::text[], ${pgArray(names.map((n) => since.get(n)!.toISOString()))}::timestamptz[]) AS a(analyst, since)
      CROSS JOIN LATERAL (
        SELECT e.at, e.id FROM audit_events e
         WHERE e.subject = a.analyst AND e.action = 'pii.read' AND e.at >= a.since
           AND e.id > COALESCE((SELECT b.id FROM audit_events b WHERE b.at < a.since - make_interval(secs => ${AT_SKEW_MS / 1000}) ORDER BY b.at DESC LIMIT 1), '-9223372036854775808'::bigint)
         ORDER BY e.id DESC
         LIMIT ${limit}) t
     ORDER BY a.analyst, t.id DESC`);
  for (const r of rows) out.get(r.analyst)!.push(new Date(r.at));
  return out;
}

/** When each grant ends (the earlier of its expiry and its end), keyed by `grantKey`. */
export async function grantEnds(db: ControlDb, grants: { requestId: number; dataset: string }[]): Promise<Map<string, Date>> {
  const out = new Map<string, Date>();
  if (grants.length === 0) return out;
  const { rows } = await db.execute<{ requestId: number; dataset: string; end: string }>(sql`
    SELECT g.request_id AS "requestId", g.dataset, least(g.expires_at, coalesce(g.ended_at, 'infinity')) AS end
      FROM pii_grants g
      JOIN unnest(${pgArray(grants.map((g) => String(g.requestId)))}::int[], ${pgArray(grants.map((g) => g.dataset))}::text[]) AS k(request_id, dataset)
        ON g.request_id = k.request_id AND g.dataset = k.dataset`);
  for (const r of rows) out.set(grantKey(Number(r.requestId), r.dataset), new Date(r.end));
  return out;
}

export const grantKey = (requestId: number, dataset: string) => `${requestId}\u0000${dataset}`;
