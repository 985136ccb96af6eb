// The read side of the access log, for auditors: filtered pages (keyset, newest first), one event
// with its PII statement, a per-analyst timeline, and daily counts of PII reads and grants.
// Which events match is decided in one place only: `auditWhere` in ./filters.ts.
import { type SQL, and, eq, gt, or } from 'drizzle-orm';
import type pg from 'pg';
import type { ControlDb } from '../db/client.js';
import { auditEvents } from '../db/schema.js';
import { STORABLE_TEXT_MESSAGE, bigintId, isStorableText } from '../api/schemas.js';
import { describeIssues } from '../api/validate.js';
import { AppError } from '../errors.js';
import { type AuditRecord, actionCounts, anyEvent, countsPerDay, eventWithAttachments, eventsById } from './dal.js';
import { type AuditFilter, auditFilterSchema, auditWhere } from './filters.js';
import { type ChainStatus, verifyChain } from './verify.js';

export { type AuditRecord, auditRecordColumns } from './dal.js';

const e = auditEvents;

export const LIMIT_DEFAULT = 50;
export const LIMIT_MAX = 200;

// --- Query-string parsing shared by the pages and the API -------------------------------------

const filterKeys = ['analyst', 'actor', 'action', 'dataset', 'request', 'from', 'to'] as const;

/** A date-time without a zone means UTC here (every time the auditor pages show is UTC). */
const utcIfZoneless = (v: string | undefined) =>
  v && /^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(v.trim()) ? `${v.trim().replace(' ', 'T')}Z` : v;

const positiveId = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined || v === '') return undefined;
  const id = bigintId.safeParse(v);
  if (!id.success) throw new AppError('bad_request', `Invalid query: ${name}: a positive event id`);
  return id.data;
};

export interface ParsedAuditQuery {
  filter: AuditFilter;
  /** The filter exactly as typed (for the form to keep its values). */
  raw: Partial<Record<(typeof filterKeys)[number], string>>;
  limit: number;
  before?: number;
  after?: number;
}

/**
 * Validates an auditor query string against THE filter schema plus paging: the API pages with
 * `cursor` (older than), the pages with `before` and `after`, exports not at all. Anything wrong, an unknown parameter
 * too (a typo must not silently widen the result), is a 400 that says why.
 */
export function parseAuditQuery(query: Record<string, string>, paging: 'api' | 'page' | 'none'): ParsedAuditQuery {
  const pagingKeys = { api: ['cursor', 'limit'], page: ['before', 'after', 'limit'], none: [] }[paging];
  const known = [...filterKeys, ...pagingKeys];
  const unknown = Object.keys(query).filter((k) => !known.includes(k));
  if (unknown.length) {
    throw new AppError('bad_request', `Invalid query: unknown parameter ${unknown.map((k) => `"${k}"`).join(', ')} (known: ${known.join(', ')})`);
  }
  const raw: ParsedAuditQuery['raw'] = {};
  for (const k of filterKeys) if (query[k] !== undefined && query[k] !== '') raw[k] = query[k];
  const result = auditFilterSchema.safeParse({ ...raw, from: utcIfZoneless(raw.from), to: utcIfZoneless(raw.to) });
  if (!result.success) throw new AppError('bad_request', `Invalid query: ${describeIssues(result.error.issues, 'query')}`);

  let limit = LIMIT_DEFAULT;
  if (query.limit !== undefined && query.limit !== '') {
    limit = Number(query.limit);
    if (!/^\d+$/.test(query.limit) || limit < 1 || limit > LIMIT_MAX) {
      throw new AppError('bad_request', `Invalid query: limit: a whole number from 1 to ${LIMIT_MAX}`);
    }
  }
  const before = paging === 'api' ? positiveId('cursor', query.cursor) : positiveId('before', query.before);
  const after = paging === 'page' ? positiveId('after', query.after) : undefined;
  if (before !== undefined && after !== undefined) throw new AppError('bad_request', 'Invalid query: give either before or after, not both');
  return { filter: result.data, raw, limit, before, after };
}

// --- Pages of events -----------------------------------------------------------------------------

export interface EventPage {
  /** Newest first. */
  events: AuditRecord[];
  /** Older events match the filter beyond this page (follow with `before = last id`). */
  hasOlder: boolean;
  /** Newer events match the filter before this page (follow with `after = first id`). */
  hasNewer: boolean;
}

/**
 * One page of the filtered log, newest first. `before` walks to older events (the usual cursor),
 * `after` back to newer ones. `scope` narrows further (the timeline's "by or about").
 */
export async function searchEvents(
  db: ControlDb,
  filter: AuditFilter,
  page: { limit: number; before?: number; after?: number },
  scope?: SQL,
): Promise<EventPage> {
  const limit = Math.min(Math.max(page.limit, 1), LIMIT_MAX);
  if (page.after !== undefined) {
    const rows = await eventsById(db, and(auditWhere(filter), scope, gt(e.id, page.after)), 'oldest', limit + 1);
    const hasNewer = rows.length > limit;
    const events = rows.slice(0, limit).reverse();
    const oldestShown = events.at(-1)?.id ?? page.after + 1;
    return { events, hasNewer, hasOlder: await anyEvent(db, and(auditWhere(filter, oldestShown), scope), 'older') };
  }
  const rows = await eventsById(db, and(auditWhere(filter, page.before), scope), 'newest', limit + 1);
  const events = rows.slice(0, limit);
  const newestShown = events[0]?.id ?? (page.before !== undefined ? page.before - 1 : undefined);
  const hasNewer = page.before !== undefined && newestShown !== undefined && (await anyEvent(db, and(auditWhere(filter), scope, gt(e.id, newestShown)), 'newer'));
  return { events, hasOlder: rows.length > limit, hasNewer };
}

/** The API's opaque-enough cursor: the id of the last event of a page. */
export const nextCursor = (page: EventPage): string | null => (page.hasOlder ? String(page.events.at(-1)!.id) : null);

// --- One event -------------------------------------------------------------------------------------

export interface PiiStatement {
  /** null once retention has pruned it; the chained event keeps its SHA-256. */
  text: string | null;
  sha256: string;
  pruned: boolean;
  prunedAt: string | null;
}

/** The refusals an `access.denied` event stands for: that person, action and minute. */
export interface DenialCount {
  /** Refusals in the minute, the one the event records included (kept beside the chain). */
  count: number;
  /** The last of them (ISO-8601 UTC). */
  lastAt: string;
}

export interface EventDetail {
  event: AuditRecord;
  statement: PiiStatement | null;
  denials: DenialCount | null;
  /** Neighbours in the chain (by id), for walking it by hand. */
  previousId: number | null;
  nextId: number | null;
}

export async function eventDetail(db: ControlDb, id: number): Promise<EventDetail | null> {
  const row = await eventWithAttachments(db, id);
  if (!row) return null;
  const { statement, statementSha256, prunedAt, denialCount, denialLastAt, previousId, nextId, ...event } = row;
  return {
    event,
    statement:
      statementSha256 === null
        ? null
        : { text: prunedAt ? null : statement, sha256: statementSha256, pruned: Boolean(prunedAt) || statement === null, prunedAt },
    denials: denialCount === null || denialLastAt === null ? null : { count: denialCount, lastAt: denialLastAt },
    previousId: previousId === null ? null : Number(previousId),
    nextId: nextId === null ? null : Number(nextId),
  };
}

// --- Per-analyst timeline ----------------------------------------------------------------------

/** A username from a path, before it is compared in SQL: a 400 for what no username can be. */
function personName(username: string): string {
  if (username.length > 200 || !isStorableText(username)) {
    throw new AppError('bad_request', `That username is not valid: at most 200 characters, which ${STORABLE_TEXT_MESSAGE}.`);
  }
  return username;
}

/** Events by or about one person: what they did and what was done to their access. */
export const byOrAbout = (username: string) => or(eq(e.subject, personName(username)), eq(e.actor, username))!;

/** One page of the events by or about a person (refuses a bad username at once, like timelineSummary). */
export function timelineEvents(db: ControlDb, username: string, filter: AuditFilter, page: { limit: number; before?: number; after?: number }): Promise<EventPage> {
  return searchEvents(db, filter, page, byOrAbout(username));
}

export interface TimelineSummary {
  total: number;
  byAction: { action: string; count: number }[];
  first: string | null;
  last: string | null;
}

/** Refuses a bad username at once (synchronously: callers start it beside other queries). */
export function timelineSummary(db: ControlDb, username: string): Promise<TimelineSummary> {
  return summaryOf(db, personName(username));
}

async function summaryOf(db: ControlDb, username: string): Promise<TimelineSummary> {
  const rows = await actionCounts(db, byOrAbout(username));
  const firsts = rows.map((r) => r.first).sort();
  const lasts = rows.map((r) => r.last).sort();
  return {
    total: rows.reduce((n, r) => n + Number(r.count), 0),
    byAction: rows.map((r) => ({ action: r.action, count: Number(r.count) })),
    first: firsts[0] ?? null,
    last: lasts.at(-1) ?? null,
  };
}

// --- Daily PII counts ----------------------------------------------------------------------------

/** Actions the chart counts. `pii.granted` is logged once PII requests can be approved. */
export const PII_READ = 'pii.read';
export const PII_GRANTED = 'pii.granted';

export interface DailyCount {
  /** YYYY-MM-DD (UTC). */
  day: string;
  reads: number;
  grants: number;
}

/** Counts per UTC day for the last `days` days (today included), oldest first, zero days included. */
export async function piiDailyCounts(db: ControlDb, days = 30, now = new Date()): Promise<DailyCount[]> {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const DAY = 86_400_000;
  const start = new Date(today - (days - 1) * DAY);
  const end = new Date(today + DAY);
  const rows = await countsPerDay(db, { read: PII_READ, granted: PII_GRANTED }, start, end);
  const byDay = new Map(rows.map((r) => [r.day, r]));
  return Array.from({ length: days }, (_, i) => {
    const day = new Date(start.getTime() + i * DAY).toISOString().slice(0, 10);
    const r = byDay.get(day);
    return { day, reads: Number(r?.reads ?? 0), grants: Number(r?.grants ?? 0) };
  });
}

// --- Chain status ----------------------------------------------------------------------------------

export interface CheckedChainStatus extends ChainStatus {
  /** When this verification finished (ISO-8601 UTC). */
  checkedAt: string;
}

/**
 * Verifying walks the whole chain, so pages reuse a recent result (the API can insist on a fresh
 * one) and concurrent requests share one walk instead of starting one each.
 */
export function chainMonitor(pool: pg.Pool, verify: (pool: pg.Pool) => Promise<ChainStatus> = verifyChain) {
  let last: CheckedChainStatus | undefined;
  let running: Promise<CheckedChainStatus> | undefined;
  const run = () =>
    (running ??= verify(pool)
      .then((s) => (last = { ...s, checkedAt: new Date().toISOString() }))
      .finally(() => {
        running = undefined;
      }));
  return {
    status(maxAgeMs = 0): Promise<CheckedChainStatus> {
      if (last && Date.now() - Date.parse(last.checkedAt) <= maxAgeMs) return Promise.resolve(last);
      return run();
    },
  };
}
export type ChainMonitor = ReturnType<typeof chainMonitor>;
