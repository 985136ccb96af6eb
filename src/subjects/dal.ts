// Every statement of the data-subject report on the control database: grants of datasets over a
// window, and pgaudit-recorded reads of tables over a window (summed per reader, the newest, and
// those whose text names the person). Reads are found through the access log's own window bounds
// (auditWhere) on the (action, id) index, so a window costs what it holds, not the whole log.
import { sql } from 'drizzle-orm';
import type { ControlDb, ControlTx } from '../db/client.js';
import { pgArray } from '../db/pg-array.js';
import { auditWhere } from '../audit/filters.js';

const iso = (column: string) => sql.raw(`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`);

const DAY_MS = 86_400_000;
const ts = (d: Date) => sql`${d.toISOString()}::timestamptz`;

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
        FROM (SELECT g.* FROM pii_grants g WHERE ${where} ORDER BY g.starts_at, g.id LIMIT ${limit}) g
        JOIN analysts a ON a.id = g.analyst_id JOIN pii_requests r ON r.id = g.request_id
       ORDER BY g.starts_at, g.id`),
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

/**
 * The window cut for the rollups (UTC): whole months, whole days outside them, and the two partial
 * edge days, which are read from audit_events itself. Every instant of the window is in exactly one
 * part, so sums over the parts equal a count over the window's events.
 */
export function windowParts(w: Window): { months: [Date, Date]; days: [Date, Date][]; edges: { from: Date; to: Date; toExclusive: boolean }[] } {
  const from = w.from.getTime();
  const to = w.to.getTime();
  const d0 = Math.ceil(from / DAY_MS) * DAY_MS;
  const d1 = Math.floor(to / DAY_MS) * DAY_MS;
  if (d0 >= d1) return { months: [w.to, w.to], days: [], edges: [{ from: w.from, to: w.to, toExclusive: false }] };
  const monthOf = (t: number) => Date.UTC(new Date(t).getUTCFullYear(), new Date(t).getUTCMonth(), 1);
  let m0 = monthOf(d0);
  if (m0 < d0) m0 = Date.UTC(new Date(m0).getUTCFullYear(), new Date(m0).getUTCMonth() + 1, 1);
  let m1 = monthOf(d1);
  if (m0 >= m1) m0 = m1 = d1;
  const edges = [{ from: new Date(d1), to: w.to, toExclusive: false }];
  if (from < d0) edges.unshift({ from: w.from, to: new Date(d0), toExclusive: true });
  return { months: [new Date(m0), new Date(m1)], days: [[new Date(d0), new Date(m0)], [new Date(m1), new Date(d1)]], edges };
}

/** One row per reader and part of the window: the rollups' whole months and days, and the edge days' events. */
function readParts(tables: string[], w: Window) {
  const p = windowParts(w);
  const t = sql`${pgArray(tables)}::text[]`;
  const edges = p.edges.map(
    (e) => sql`
    UNION ALL
    SELECT audit_events.subject, audit_events.details ->> 'role', 1, (audit_events.details ->> 'alert' = 'true')::int, audit_events.at, audit_events.at
      FROM audit_events
     WHERE ${auditWhere({ action: 'pii.read', from: e.from, to: e.to })} ${e.toExclusive ? sql`AND audit_events.at < ${ts(e.to)}` : sql``}
       AND audit_events.details -> 'objects' ?| ${t}`,
  );
  return sql`
    SELECT nullif(r.analyst, '') AS analyst, r.role, r.reads AS reads, r.outside AS outside, r.first_at, r.last_at
      FROM pii_read_rollup r
     WHERE r.tables && ${t}
       AND ((r.span = 'month' AND r.bucket >= ${ts(p.months[0])} AND r.bucket < ${ts(p.months[1])})
         OR (r.span = 'day' AND (${p.days.length ? sql.join(p.days.map(([a, b]) => sql`(r.bucket >= ${ts(a)} AND r.bucket < ${ts(b)})`), sql` OR `) : sql`false`})))
    ${sql.join(edges, sql``)}`;
}

/** Who read: one row per login role (the analyst behind it, if any), from the rollups (migration 0012). */
export async function readers(db: ControlDb, tables: string[], w: Window): Promise<ReaderRow[]> {
  const t = sql`${pgArray(tables)}::text[]`;
  const { rows } = await db.execute<ReaderRow & { reads: string; outsideGrant: string; requestIds: (string | number)[] }>(sql`
    WITH totals AS (
      SELECT p.analyst, p.role, sum(p.reads) AS reads, sum(p.outside) AS outside, min(p.first_at) AS first_at, max(p.last_at) AS last_at
        FROM (${readParts(tables, w)}) AS p(analyst, role, reads, outside, first_at, last_at)
       GROUP BY 1, 2),
    -- A request counts when one of its reads is in the window: certain when its first and last read
    -- both are; otherwise (it straddles an edge) audit_events answers through the request's index.
    requests AS (
      SELECT s.analyst, s.role, array_agg(DISTINCT s.request_id ORDER BY s.request_id) AS ids
        FROM pii_read_request_spans s
       WHERE s.tables && ${t} AND s.first_at <= ${ts(w.to)} AND s.last_at >= ${ts(w.from)}
         AND ((s.first_at >= ${ts(w.from)} AND s.last_at <= ${ts(w.to)})
           OR EXISTS (SELECT 1 FROM audit_events e
                       WHERE e.request_id = s.request_id AND e.action = 'pii.read' AND e.at >= ${ts(w.from)} AND e.at <= ${ts(w.to)}
                         AND e.details ->> 'role' = s.role AND coalesce(e.subject, '') = s.analyst AND e.details -> 'objects' ?| ${t}))
       GROUP BY 1, 2)
    SELECT t.analyst, t.role, coalesce(r.ids, '{}') AS "requestIds", t.reads, t.outside AS "outsideGrant",
           ${iso('t.first_at')} AS first, ${iso('t.last_at')} AS last
      FROM totals t LEFT JOIN requests r ON r.analyst = coalesce(t.analyst, '') AND r.role = t.role
     ORDER BY t.reads DESC, t.role`);
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

/**
 * Retained statement texts naming the person, found through the trigram index (migration 0012) and
 * then matched with the pattern itself; materialized so the planner starts from them.
 */
const namingStatements = (pattern: string) =>
  sql`naming AS MATERIALIZED (SELECT s.event_id, s.statement, s.statement_sha256 FROM pii_read_statements s WHERE s.statement ~* ${pattern})`;

/**
 * Each naming statement's event by its primary key (OFFSET 0 keeps the lookup per row: joined
 * freely, the planner would scan the window's events to hash them).
 */
const namingEvents = sql`naming s CROSS JOIN LATERAL (SELECT * FROM audit_events e WHERE e.id = s.event_id OFFSET 0) AS audit_events`;

/** The newest reads of the window (`naming`: only those whose retained text names the person). */
export async function reads(db: ControlDb, tables: string[], w: Window, terms: string[], opts: { limit: number; naming: boolean }): Promise<ReadRow[]> {
  const pattern = namingPattern(terms);
  const { rows } = await db.execute<ReadRow & { eventId: string; requestId: number | null }>(sql`
    ${opts.naming ? sql`WITH ${namingStatements(pattern)}` : sql``}
    SELECT audit_events.id AS "eventId", ${iso('audit_events.at')} AS at, audit_events.details ->> 'loggedAt' AS "loggedAt", audit_events.subject AS analyst,
           audit_events.details ->> 'role' AS role, audit_events.details -> 'objects' AS objects, audit_events.request_id AS "requestId", audit_events.dataset,
           r.purpose, coalesce(audit_events.details ->> 'alert' = 'true', false) AS "outsideGrant",
           s.statement, s.statement_sha256 AS "statementSha256",
           CASE WHEN s.statement IS NULL THEN NULL ELSE s.statement ~* ${pattern} END AS "namesSubject"
      FROM ${opts.naming ? namingEvents : sql`audit_events LEFT JOIN pii_read_statements s ON s.event_id = audit_events.id`}
      LEFT JOIN pii_requests r ON r.id = audit_events.request_id
     WHERE ${readsOf(tables, w)}
     ORDER BY audit_events.id DESC
     LIMIT ${opts.limit}`);
  return rows.map((r) => ({ ...r, eventId: Number(r.eventId) }));
}

/** How many reads of the window there are (rollups), and how many of their retained texts name the person. */
export async function readCounts(db: ControlDb, tables: string[], w: Window, terms: string[]): Promise<{ reads: number; naming: number }> {
  const [all, naming] = await Promise.all([
    db.execute<{ n: string | null }>(sql`SELECT sum(p.reads) AS n FROM (${readParts(tables, w)}) AS p(analyst, role, reads, outside, first_at, last_at)`),
    db.execute<{ n: string }>(sql`
      WITH ${namingStatements(namingPattern(terms))}
      SELECT count(*) AS n FROM ${namingEvents} WHERE ${readsOf(tables, w)}`),
  ]);
  return { reads: Number(all.rows[0]!.n ?? 0), naming: Number(naming.rows[0]!.n) };
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

// --- The running totals of pii.read events (migration 0012: pii_read_rollup, pii_read_request_spans).
// Derived data: audit_events stays the record, and these tables can be rebuilt from it at any time.
// Whoever appends pii.read events adds them here in the same transaction (the pgaudit ingestion, the
// demo seed); a bulk load rebuilds.

/** Counts the pii.read events among `eventIds` (other actions are ignored). */
export async function addToReadRollups(tx: ControlTx, eventIds: number[]): Promise<void> {
  if (eventIds.length) await tx.execute(sql`SELECT pii_read_rollup_add(${pgArray(eventIds)}::bigint[])`);
}

/** Recomputes the totals from audit_events (after a bulk load, or to repair). */
export async function rebuildReadRollups(db: ControlDb): Promise<void> {
  await db.execute(sql`SELECT pii_read_rollup_rebuild()`);
}
