// The one definition of "which events": used by the auditor pages, the API, and the exports.
import { type SQL, and, desc, eq, gte, lt, lte, sql } from 'drizzle-orm';
import { z } from 'zod';
import { auditEvents } from '../db/schema.js';
import { int4Id, isoInstant, safeText, TIMESTAMP_MAX, TIMESTAMP_MIN } from '../api/schemas.js';
import { auditActions } from './log.js';

const blankToUndefined = (v: unknown) => (v === '' ? undefined : v);
const opt = <T extends z.ZodType>(t: T) => z.preprocess(blankToUndefined, t.optional());

// Query-string values, checked with the same building blocks as bodies and path ids: text
// PostgreSQL can store, an integer id, a time PostgreSQL and JavaScript both represent.
export const auditFilterSchema = z
  .object({
    /** The analyst the events are about. */
    analyst: opt(safeText(200)),
    actor: opt(safeText(200)),
    action: opt(z.enum(auditActions)),
    dataset: opt(safeText(200)),
    request: opt(int4Id),
    from: opt(isoInstant),
    to: opt(isoInstant),
  })
  .refine((f) => !f.from || !f.to || f.from <= f.to, { message: 'from must not be after to', path: ['from'] });

export type AuditFilter = z.infer<typeof auditFilterSchema>;

/**
 * How far `at` may run backwards between events in id order. `at` is taken under the chain lock,
 * so it only goes back when writers' clocks disagree (several gate instances) or a clock is
 * stepped back; an hour is far beyond either.
 */
export const AT_SKEW_MS = 3_600_000;

/**
 * WHERE clause for a filter; `beforeId` is the keyset cursor (events are listed newest first).
 *
 * A time range also bounds `id`, so that newest-first pages walk the primary key over just that
 * stretch of the log instead of filtering `at` down the whole table (on 1M events: 0.3 ms instead
 * of 200 ms for a week in the middle of a year). With `at` never running backwards by more than
 * AT_SKEW_MS (s): every event at or before an event q in id order has `at` <= at(q) + s, so when
 * at(q) < from - s none of them is in range, and the range starts after q; likewise it ends before
 * the first event later than to + s. Both q are one step on the `at` index. The `at` conditions
 * themselves still decide what matches; the bounds only let the scan skip the rest.
 */
export function auditWhere(f: AuditFilter, beforeId?: number): SQL | undefined {
  const e = auditEvents;
  // Kept within the years 1..9999 the filter allows, so a bound near either end stays a valid timestamp.
  const shifted = (d: Date, ms: number) => new Date(Math.min(Math.max(d.getTime() + ms, TIMESTAMP_MIN), TIMESTAMP_MAX)).toISOString();
  return and(
    f.analyst ? eq(e.subject, f.analyst) : undefined,
    f.actor ? eq(e.actor, f.actor) : undefined,
    f.action ? eq(e.action, f.action) : undefined,
    f.dataset ? eq(e.dataset, f.dataset) : undefined,
    f.request ? eq(e.requestId, f.request) : undefined,
    f.from ? gte(e.at, f.from.toISOString()) : undefined,
    f.to ? lte(e.at, f.to.toISOString()) : undefined,
    f.from
      ? sql`${e.id} > COALESCE((SELECT b.id FROM audit_events b WHERE b.at < ${shifted(f.from, -AT_SKEW_MS)} ORDER BY b.at DESC LIMIT 1), '-9223372036854775808'::bigint)`
      : undefined,
    f.to
      ? sql`${e.id} < COALESCE((SELECT b.id FROM audit_events b WHERE b.at > ${shifted(f.to, AT_SKEW_MS)} ORDER BY b.at LIMIT 1), '9223372036854775807'::bigint)`
      : undefined,
    beforeId !== undefined ? lt(e.id, beforeId) : undefined,
  );
}

export const newestFirst = desc(auditEvents.id);

