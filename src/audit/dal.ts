// Data access of the access log: every statement on audit_events and pii_read_statements, and the
// reads that join them to access_denials and the PII grants, with typed rows. drizzle's builder
// where it can express the query; typed `sql` templates where it cannot (the chain's append
// functions with array parameters). The chain walk reads COPY ... TO STDOUT batches in a read-only
// snapshot on a checked-out client: COPY has neither a builder nor parameters (ids and limits are
// integers). Which events match is built by ./filters.ts (auditWhere) and passed in as a WHERE.
// The rules (what is logged, paging, what a page shows) stay in log.ts, query.ts, pgaudit.ts,
// verify.ts and anchor.ts.
import { type AnyColumn, type SQL, and, asc, count, desc, eq, inArray, isNotNull, lt, lte, max, min, sql } from 'drizzle-orm';
import type pg from 'pg';
import type { ControlDb, ControlTx } from '../db/client.js';
import { CopyOut } from '../db/copy-out.js';
import { pgArray } from '../db/pg-array.js';
import { accessDenials, analysts, auditEvents, ingestCursors, piiGrants, piiReadStatements, piiRequests } from '../db/schema.js';
import { COPY_COLUMNS } from './chain-encoder.js';

const e = auditEvents;

/** `to_char` of a timestamp in the chain's canonical form (ISO-8601 UTC with milliseconds). */
const isoUtc = (column: AnyColumn | SQL) =>
  sql`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

// --- Appending -------------------------------------------------------------------------------------

// Any constant works; it only has to be the same for every writer of the chain.
export const CHAIN_LOCK = 0x46445747; // "FDWG"

/** An event's stored fields as log.ts normalised them, with the canonical text between `at` and `prev_hash`. */
export type StoredEvent = Pick<AuditRecord, 'actor' | 'subject' | 'action' | 'requestId' | 'dataset' | 'details'> & { middle: string };

/** One round trip: the function takes the chain lock, stamps `at`, links and hashes the row. Its id. */
export async function insertEvent(tx: ControlTx, f: StoredEvent): Promise<number> {
  const result = await tx.execute<{ id: string }>(sql`
    SELECT audit_append(${CHAIN_LOCK}, ${f.actor}, ${f.subject}, ${f.action}, ${f.requestId},
                        ${f.dataset}, ${JSON.stringify(f.details)}::jsonb, ${f.middle}) AS id`);
  return Number(result.rows[0]!.id);
}

/** insertEvent for many, in order, in one round trip (one array parameter per column). Their ids. */
export async function insertEvents(tx: ControlTx, fs: StoredEvent[]): Promise<number[]> {
  const col = (pick: (f: StoredEvent) => string | number | null) => pgArray(fs.map(pick));
  const result = await tx.execute<{ id: string }>(sql`
    SELECT audit_append_many(${CHAIN_LOCK}, ${col((f) => f.actor)}::text[], ${col((f) => f.subject)}::text[],
                             ${col((f) => f.action)}::text[], ${col((f) => f.requestId)}::integer[], ${col((f) => f.dataset)}::text[],
                             ${col((f) => JSON.stringify(f.details))}::jsonb[], ${col((f) => f.middle)}::text[]) AS id`);
  return result.rows.map((r) => Number(r.id));
}

// --- Reading events ----------------------------------------------------------------------------------

export interface AuditRecord {
  id: number;
  /** ISO-8601 UTC with milliseconds: exactly what was hashed. */
  at: string;
  actor: string;
  subject: string | null;
  action: string;
  requestId: number | null;
  dataset: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** The columns of an event, with `at` rendered by PostgreSQL in the chain's canonical form. */
export const auditRecordColumns = {
  id: e.id,
  at: sql<string>`${isoUtc(e.at)}`,
  actor: e.actor,
  subject: e.subject,
  action: e.action,
  requestId: e.requestId,
  dataset: e.dataset,
  details: sql<Record<string, unknown>>`${e.details}`,
  prevHash: e.prevHash,
  hash: e.hash,
};

/** Up to `limit` events matching `where`, by id: newest first (the usual walk) or oldest first. */
export async function eventsById(db: ControlDb, where: SQL | undefined, order: 'newest' | 'oldest', limit: number): Promise<AuditRecord[]> {
  return (await db
    .select(auditRecordColumns)
    .from(e)
    .where(where)
    .orderBy(order === 'newest' ? desc(e.id) : asc(e.id))
    .limit(limit)) as AuditRecord[];
}

/** Is there a matching row beyond a page? Ordered from the page edge outwards, so an index scan stops at the first hit. */
export async function anyEvent(db: ControlDb, where: SQL | undefined, outwards: 'older' | 'newer'): Promise<boolean> {
  const rows = await db
    .select({ id: e.id })
    .from(e)
    .where(where)
    .orderBy(outwards === 'older' ? desc(e.id) : asc(e.id))
    .limit(1);
  return rows.length > 0;
}

export interface EventRow extends AuditRecord {
  statement: string | null;
  statementSha256: string | null;
  prunedAt: string | null;
  denialCount: number | null;
  denialLastAt: string | null;
  previousId: string | null;
  nextId: string | null;
}

/** One event with its PII statement, its refusal count, and its neighbours' ids. */
export async function eventWithAttachments(db: ControlDb, id: number): Promise<EventRow | undefined> {
  const [row] = await db
    .select({
      ...auditRecordColumns,
      statement: piiReadStatements.statement,
      statementSha256: piiReadStatements.statementSha256,
      prunedAt: sql<string | null>`${isoUtc(piiReadStatements.prunedAt)}`,
      denialCount: accessDenials.count,
      denialLastAt: sql<string | null>`${isoUtc(accessDenials.lastAt)}`,
      previousId: sql<string | null>`(SELECT max(p.id) FROM audit_events p WHERE p.id < ${e.id})`,
      nextId: sql<string | null>`(SELECT min(n.id) FROM audit_events n WHERE n.id > ${e.id})`,
    })
    .from(e)
    .leftJoin(piiReadStatements, eq(piiReadStatements.eventId, e.id))
    .leftJoin(accessDenials, eq(accessDenials.eventId, e.id))
    .where(eq(e.id, id));
  return row as EventRow | undefined;
}

/** Per action among the events matching `where`: how many, the first and the last `at`; by action. */
export function actionCounts(db: ControlDb, where: SQL): Promise<{ action: string; count: number; first: string; last: string }[]> {
  return db
    .select({
      action: e.action,
      count: count(),
      first: sql<string>`${isoUtc(sql`${min(e.at)}`)}`,
      last: sql<string>`${isoUtc(sql`${max(e.at)}`)}`,
    })
    .from(e)
    .where(where)
    .groupBy(e.action)
    .orderBy(asc(e.action));
}

/** Counts of two actions per UTC day (YYYY-MM-DD) with `at` in [start, end); days without either are absent. */
export function countsPerDay(
  db: ControlDb,
  actions: { read: string; granted: string },
  start: Date,
  end: Date,
): Promise<{ day: string; reads: string; grants: string }[]> {
  return db
    .select({
      day: sql<string>`to_char(date_trunc('day', ${e.at} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')`,
      reads: sql<string>`count(*) FILTER (WHERE ${e.action} = ${actions.read})`,
      grants: sql<string>`count(*) FILTER (WHERE ${e.action} = ${actions.granted})`,
    })
    .from(e)
    .where(and(inArray(e.action, [actions.read, actions.granted]), sql`${e.at} >= ${start.toISOString()}`, lt(e.at, end.toISOString())))
    .groupBy(sql`1`);
}

/** The stored hash of one event, if it is there. */
export async function eventHash(db: ControlDb, id: number): Promise<string | undefined> {
  const [row] = await db.select({ hash: e.hash }).from(e).where(eq(e.id, id));
  return row?.hash;
}

/** The newest event of one action (the admin page's "policy last applied"). */
export async function newestEventOf<D extends Record<string, unknown>>(
  db: ControlDb,
  action: string,
): Promise<{ id: number; at: string; actor: string; details: D } | null> {
  const [row] = await db
    .select({ id: e.id, at: sql<string>`${isoUtc(e.at)}`, actor: e.actor, details: sql<D>`${e.details}` })
    .from(e)
    .where(eq(e.action, action))
    .orderBy(desc(e.id))
    .limit(1);
  return row ?? null;
}

// --- PII statements and the grants they ran under ----------------------------------------------------

/** Blanks up to `limit` statement texts recorded before `olderThan` (the events keep their hashes); their event ids. */
export async function blankStatementText(tx: ControlTx, olderThan: Date, limit: number): Promise<number[]> {
  const due = tx
    .select({ id: piiReadStatements.eventId })
    .from(piiReadStatements)
    .innerJoin(e, sql`${e.id} = ${piiReadStatements.eventId}`)
    .where(and(isNotNull(piiReadStatements.statement), lt(e.at, olderThan.toISOString())))
    .limit(limit);
  const rows = await tx
    .update(piiReadStatements)
    .set({ statement: null, prunedAt: sql`now()` })
    .where(and(inArray(piiReadStatements.eventId, due), isNotNull(piiReadStatements.statement)))
    .returning({ id: piiReadStatements.eventId });
  return rows.map((r) => r.id);
}

/**
 * The analyst's grants in force at `at` (started, neither expired nor ended), newest first, with
 * their request's purpose.
 */
export function grantsInForceAt(db: ControlDb, username: string, at: Date): Promise<{ requestId: number; dataset: string; purpose: string }[]> {
  return db
    .select({ requestId: piiGrants.requestId, dataset: piiGrants.dataset, purpose: piiRequests.purpose })
    .from(piiGrants)
    .innerJoin(analysts, eq(analysts.id, piiGrants.analystId))
    .innerJoin(piiRequests, eq(piiRequests.id, piiGrants.requestId))
    .where(
      and(
        eq(analysts.username, username),
        lte(piiGrants.startsAt, at),
        sql`${at.toISOString()}::timestamptz < least(${piiGrants.expiresAt}, coalesce(${piiGrants.endedAt}, 'infinity'))`,
      ),
    )
    .orderBy(desc(piiGrants.startsAt));
}

// --- The chain walk's snapshot -----------------------------------------------------------------------

/** Opens the walk's REPEATABLE READ, read-only snapshot on a checked-out client. */
export async function beginChainSnapshot(client: pg.PoolClient): Promise<void> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  // The text form of `at` depends on these; jit would only add start-up time to each batch.
  await client.query(`SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, MDY'; SET LOCAL jit = off`);
}

export async function endChainSnapshot(client: pg.PoolClient): Promise<void> {
  await client.query('COMMIT');
}

/**
 * Streams up to `limit` rows of COPY_COLUMNS with id above `afterId` (all from the start when null),
 * in id order, one text line each to `onLine`; resolves when the batch has ended.
 */
export function copyChainBatch(
  client: pg.PoolClient,
  afterId: number | null,
  limit: number,
  onLine: (bytes: Uint8Array, start: number, end: number) => void,
): Promise<void> {
  const where = afterId === null ? '' : `WHERE id > ${String(afterId)}`;
  const copy = new CopyOut(`COPY (SELECT ${COPY_COLUMNS} FROM audit_events ${where} ORDER BY id LIMIT ${limit}) TO STDOUT`, onLine);
  client.query(copy);
  return copy.done;
}

// --- pgaudit ingestion: the cursor of each log file, statement texts, who a login role is ---------

/** Where ingestion of `source` stands (0 for a file not seen before). */
export async function cursorPosition(db: ControlDb, source: string): Promise<number> {
  await db.insert(ingestCursors).values({ source, position: 0 }).onConflictDoNothing();
  const [row] = await db.select({ position: ingestCursors.position }).from(ingestCursors).where(eq(ingestCursors.source, source));
  return row!.position;
}

/** Compare-and-set of a file's cursor: false when another ingester moved it first. */
export async function moveCursor(tx: ControlTx, source: string, from: number, to: number, at: Date): Promise<boolean> {
  const moved = await tx
    .update(ingestCursors)
    .set({ position: to, updatedAt: at })
    .where(and(eq(ingestCursors.source, source), eq(ingestCursors.position, from)))
    .returning({ source: ingestCursors.source });
  return moved.length === 1;
}

export async function insertReadStatement(tx: ControlTx, row: { eventId: number; statement: string; statementSha256: string }): Promise<void> {
  await tx.insert(piiReadStatements).values(row);
}

/** The analysts behind gate-managed login roles. */
export async function analystsOfRoles(db: ControlDb, roles: string[]): Promise<Array<{ username: string; roleName: string }>> {
  if (roles.length === 0) return [];
  return db.select({ username: analysts.username, roleName: analysts.roleName }).from(analysts).where(inArray(analysts.roleName, roles));
}
