// Every statement of the data-subject report on the control database: grants of datasets over a
// window, and pgaudit-recorded reads of tables over a window (summed per reader, the newest, and
// those whose text names the person). Reads are found through the access log's own window bounds
// (auditWhere) on the (action, id) index, so a window costs what it holds, not the whole log.
import { sql } from 'drizzle-orm';
import type { ControlDb } from '../db/client.js';
import { pgArray } from '../db/pg-array.js';
import { auditWhere } from '../audit/filters.js';

const iso = (column: string) => sql.raw(`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);

export interface Window {
  from: Date;
  to: Date;
}

export type GrantRow = {
  grantId: number;
  requestId: number;
  analyst: string;
  dataset: string;
  purpose: string;
  approvers: string[];
  startsAt: string;
  expiresAt: string;
  endedAt: string | null;
  /** expired | relinquished | revoked | left_group; null while live. */
  endReason: string | null;
  endedBy: string | null;
};

/** Grants of `datasets` whose time overlaps the window, oldest first, at most `limit`; and how many there are. */
export async function grantsOverlapping(db: ControlDb, datasets: string[], w: Window, limit: number): Promise<{ rows: GrantRow[]; total: number }> {
  const where = sql`g.dataset = ANY(${pgArray(datasets)}::text[])
         AND g.starts_at <= ${w.to.toISOString()}::timestamptz
         AND least(g.expires_at, coalesce(g.ended_at, 'infinity')) >= ${w.from.toISOString()}::timestamptz`;
  const [rows, total] = await Promise.all([
    db.execute<GrantRow>(sql`
      SELECT g.id AS "grantId", g.request_id AS "requestId", a.username AS analyst, g.dataset, r.purpose,
             coalesce((SELECT json_agg(v.reviewer ORDER BY v.at) FROM pii_request_reviews v
                        WHERE v.request_id = g.request_id AND v.decision = 'approve'), '[]'::json) AS approvers,
             ${iso('g.starts_at')} AS "startsAt", ${iso('g.expires_at')} AS "expiresAt", ${iso('g.ended_at')} AS "endedAt",
             g.end_reason AS "endReason", g.ended_by AS "endedBy"
        FROM pii_grants g JOIN analysts a ON a.id = g.analyst_id JOIN pii_requests r ON r.id = g.request_id
       WHERE ${where}
       ORDER BY g.starts_at, g.id
       LIMIT ${limit}`),
    db.execute<{ n: string }>(sql`SELECT count(*) AS n FROM pii_grants g WHERE ${where}`),
  ]);
  return { rows: rows.rows, total: Number(total.rows[0]!.n) };
}

/** pii.read events in the window that touched any of `tables`. */
const readsOf = (tables: string[], w: Window) =>
  sql`${auditWhere({ action: 'pii.read', from: w.from, to: w.to })} AND audit_events.details -> 'objects' ?| ${pgArray(tables)}::text[]`;

export type ReaderRow = {
  /** The gate's analyst; null for a login role the gate does not manage (a DBA's hand grant). */
  analyst: string | null;
  role: string;
  /** The requests their reads were made under (the grants above tell what each allowed), oldest first. */
  requestIds: number[];
  reads: number;
  /** Reads no approved request covered (flagged at ingestion). */
  outsideGrant: number;
  first: string;
  last: string;
};

/** Who read: one row per login role (the analyst behind it, if any). */
export async function readers(db: ControlDb, tables: string[], w: Window): Promise<ReaderRow[]> {
  const { rows } = await db.execute<ReaderRow & { reads: string; outsideGrant: string }>(sql`
    SELECT audit_events.subject AS analyst, audit_events.details ->> 'role' AS role,
           coalesce(array_agg(DISTINCT audit_events.request_id) FILTER (WHERE audit_events.request_id IS NOT NULL), '{}') AS "requestIds",
           count(*) AS reads, count(*) FILTER (WHERE audit_events.details ->> 'alert' = 'true') AS "outsideGrant",
           ${iso('min(audit_events.at)')} AS first, ${iso('max(audit_events.at)')} AS last
      FROM audit_events
     WHERE ${readsOf(tables, w)}
     GROUP BY 1, 2
     ORDER BY 4 DESC, 2`);
  return rows.map((r) => ({ ...r, requestIds: r.requestIds.map(Number), reads: Number(r.reads), outsideGrant: Number(r.outsideGrant) }));
}

export type ReadRow = {
  eventId: number;
  at: string;
  loggedAt: string | null;
  analyst: string | null;
  role: string;
  objects: string[];
  requestId: number | null;
  dataset: string | null;
  purpose: string | null;
  outsideGrant: boolean;
  /** null once retention pruned it (the event keeps its SHA-256). */
  statement: string | null;
  statementSha256: string | null;
  /** Whether the retained text names the person; null when there is no text to look at. */
  namesSubject: boolean | null;
};

/**
 * A PostgreSQL regular expression (case-insensitive with ~*) that finds any of `terms` as a whole
 * word: not preceded or followed by a letter, digit or underscore. `alice` is named by
 * `username = 'ALICE'` and by `alice@fedoraproject.org`, not by `malice` or `alice_b`.
 */
export function namingPattern(terms: string[]): string {
  const alternatives = terms.map((t) => t.replace(/[\\^$.|?*+()[\]{}-]/g, '\\$&'));
  return `(^|[^[:alnum:]_])(${alternatives.join('|')})([^[:alnum:]_]|$)`;
}

/** The newest reads of the window (`naming`: only those whose retained text names the person). */
export async function reads(db: ControlDb, tables: string[], w: Window, terms: string[], opts: { limit: number; naming: boolean }): Promise<ReadRow[]> {
  const pattern = namingPattern(terms);
  const { rows } = await db.execute<ReadRow & { eventId: string; requestId: number | null }>(sql`
    SELECT audit_events.id AS "eventId", ${iso('audit_events.at')} AS at, audit_events.details ->> 'loggedAt' AS "loggedAt", audit_events.subject AS analyst,
           audit_events.details ->> 'role' AS role, audit_events.details -> 'objects' AS objects, audit_events.request_id AS "requestId", audit_events.dataset,
           r.purpose, coalesce(audit_events.details ->> 'alert' = 'true', false) AS "outsideGrant",
           s.statement, s.statement_sha256 AS "statementSha256",
           CASE WHEN s.statement IS NULL THEN NULL ELSE s.statement ~* ${pattern} END AS "namesSubject"
      FROM audit_events
      LEFT JOIN pii_read_statements s ON s.event_id = audit_events.id
      LEFT JOIN pii_requests r ON r.id = audit_events.request_id
     WHERE ${readsOf(tables, w)} ${opts.naming ? sql`AND s.statement ~* ${pattern}` : sql``}
     ORDER BY audit_events.id DESC
     LIMIT ${opts.limit}`);
  return rows.map((r) => ({ ...r, eventId: Number(r.eventId) }));
}

/** How many reads of the window there are, and how many of their retained texts name the person. */
export async function readCounts(db: ControlDb, tables: string[], w: Window, terms: string[]): Promise<{ reads: number; naming: number }> {
  const { rows } = await db.execute<{ reads: string; naming: string }>(sql`
    SELECT count(*) AS reads, count(*) FILTER (WHERE s.statement ~* ${namingPattern(terms)}) AS naming
      FROM audit_events LEFT JOIN pii_read_statements s ON s.event_id = audit_events.id
     WHERE ${readsOf(tables, w)}`);
  return { reads: Number(rows[0]!.reads), naming: Number(rows[0]!.naming) };
}

export type AlertRow = {
  eventId: number;
  at: string;
  analyst: string | null;
  rule: string;
  reason: string;
  readEventId: number;
  requestId: number | null;
};

/** alert.raised events of the window about reads of `tables`. */
export async function alertsOn(db: ControlDb, tables: string[], w: Window, limit: number): Promise<AlertRow[]> {
  const { rows } = await db.execute<AlertRow & { eventId: string }>(sql`
    SELECT audit_events.id AS "eventId", ${iso('audit_events.at')} AS at, audit_events.subject AS analyst, audit_events.details ->> 'rule' AS rule, audit_events.details ->> 'reason' AS reason,
           (audit_events.details ->> 'readEventId')::bigint AS "readEventId", audit_events.request_id AS "requestId"
      FROM audit_events
     WHERE ${auditWhere({ action: 'alert.raised', from: w.from, to: w.to })} AND audit_events.details -> 'objects' ?| ${pgArray(tables)}::text[]
     ORDER BY audit_events.id DESC
     LIMIT ${limit}`);
  return rows.map((r) => ({ ...r, eventId: Number(r.eventId), readEventId: Number(r.readEventId) }));
}
