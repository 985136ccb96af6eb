// The one definition of "which events": used by the auditor pages, the API, and the exports.
import { type SQL, and, desc, eq, gte, lt, lte } from 'drizzle-orm';
import { z } from 'zod';
import { auditEvents } from '../db/schema.js';
import { auditActions } from './log.js';

const isoTime = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), 'an ISO-8601 date or time')
  .transform((s) => new Date(s));
const blankToUndefined = (v: unknown) => (v === '' ? undefined : v);
const opt = <T extends z.ZodType>(t: T) => z.preprocess(blankToUndefined, t.optional());

export const auditFilterSchema = z
  .object({
    /** The analyst the events are about. */
    analyst: opt(z.string().max(200)),
    actor: opt(z.string().max(200)),
    action: opt(z.enum(auditActions)),
    dataset: opt(z.string().max(200)),
    request: opt(z.coerce.number().int().positive()),
    from: opt(isoTime),
    to: opt(isoTime),
  })
  .refine((f) => !f.from || !f.to || f.from <= f.to, { message: 'from must not be after to', path: ['from'] });

export type AuditFilter = z.infer<typeof auditFilterSchema>;

/** WHERE clause for a filter; `beforeId` is the keyset cursor (events are listed newest first). */
export function auditWhere(f: AuditFilter, beforeId?: number): SQL | undefined {
  const e = auditEvents;
  return and(
    f.analyst ? eq(e.subject, f.analyst) : undefined,
    f.actor ? eq(e.actor, f.actor) : undefined,
    f.action ? eq(e.action, f.action) : undefined,
    f.dataset ? eq(e.dataset, f.dataset) : undefined,
    f.request ? eq(e.requestId, f.request) : undefined,
    f.from ? gte(e.at, f.from.toISOString()) : undefined,
    f.to ? lte(e.at, f.to.toISOString()) : undefined,
    beforeId !== undefined ? lt(e.id, beforeId) : undefined,
  );
}

export const newestFirst = desc(auditEvents.id);

/** Query-string form of a filter, for links (pagination, export) that keep the current filter. */
export function filterQuery(f: AuditFilter): URLSearchParams {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) {
    if (v === undefined) continue;
    q.set(k, v instanceof Date ? v.toISOString() : String(v));
  }
  return q;
}

