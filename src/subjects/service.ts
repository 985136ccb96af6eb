// The data-subject report (GDPR Art. 15): for one Fedora username and a time window, where the
// person's rows are (pseudonym, PII datasets), who could read them (grants), who did (pgaudit-
// recorded statements, marked where their text names the person) and the alerts raised on those
// reads. Asking is itself an event (`subject.report`, the stated reason in details), recorded
// before anything is looked up, so every report on a person is on their timeline.
import type pg from 'pg';
import { z } from 'zod';
import { appendAudit } from '../audit/log.js';
import type { Identity } from '../auth/identity.js';
import type { ControlDb } from '../db/client.js';
import { isoInstant, safeText } from '../api/schemas.js';
import { describeIssues } from '../api/validate.js';
import { AppError } from '../errors.js';
import type { PiiDataset } from '../policy/schema.js';
import { type AlertRow, type GrantRow, type ReadRow, type ReaderRow, alertsOn, grantsOverlapping, readCounts, readers, reads } from './dal.js';
import { type SubjectPresence, subjectPresence } from './lookup.js';

const DAY_MS = 86_400_000;
/** Rows a report lists in full (the counts always cover everything). */
export const REPORT_LIMITS = { grants: 2_000, reads: 100, namingReads: 200, alerts: 200 } as const;

const blankToUndefined = (v: unknown) => (v === '' ? undefined : v);

/** The query string of the page and the API: the window (default: the year up to now) and why. */
export const subjectQuerySchema = z
  .object({
    from: z.preprocess(blankToUndefined, isoInstant.optional()),
    to: z.preprocess(blankToUndefined, isoInstant.optional()),
    reason: safeText(500).refine((r) => r.trim().length >= 10, 'state why you need this report (at least 10 characters)'),
  })
  .strict()
  .refine((q) => !q.from || !q.to || q.from <= q.to, { message: 'from must not be after to', path: ['from'] });

export const usernameSchema = safeText(200).refine((u) => u.trim().length > 0, 'a username');

export interface SubjectQuery {
  username: string;
  from: Date;
  to: Date;
  reason: string;
}

/** Validates the path's username and the query string; a 400 that names the field otherwise. */
export function parseSubjectQuery(username: string, query: Record<string, string>): SubjectQuery {
  const u = usernameSchema.safeParse(username);
  if (!u.success) throw new AppError('bad_request', `Invalid username: ${u.error.issues.map((i) => i.message).join('; ')}`);
  const q = subjectQuerySchema.safeParse(query);
  if (!q.success) throw new AppError('bad_request', `Invalid query: ${describeIssues(q.error.issues, 'query')}`);
  const to = q.data.to ?? new Date();
  const from = q.data.from ?? new Date(to.getTime() - 365 * DAY_MS);
  return { username: u.data, from, to, reason: q.data.reason.trim() };
}

export interface SubjectReport {
  username: string;
  window: { from: string; to: string };
  reason: string;
  requestedBy: string;
  generatedAt: string;
  /** The `subject.report` event that records this report. */
  reportEventId: number;
  /** Where the person appears: checked by the warehouse's lookup (table names and counts only). */
  presence: SubjectPresence;
  /** PII datasets holding rows about the person (every dataset when the lookup could not answer). */
  datasets: string[];
  /** Their tables: the reads below are reads of these. */
  tables: string[];
  grants: GrantRow[];
  grantsTotal: number;
  readers: ReaderRow[];
  readsTotal: number;
  /** Reads whose retained statement text names the pseudonym or the username. */
  namingTotal: number;
  namingReads: ReadRow[];
  latestReads: ReadRow[];
  alerts: AlertRow[];
  limits: typeof REPORT_LIMITS;
}

export class SubjectReports {
  constructor(
    private readonly db: ControlDb,
    private readonly warehouse: pg.Pool,
    private readonly datasets: readonly PiiDataset[],
    private readonly prefix: string,
  ) {}

  async report(auditor: Identity, q: SubjectQuery, format: 'json' | 'page'): Promise<SubjectReport> {
    const window = { from: q.from.toISOString(), to: q.to.toISOString() };
    const reportEventId = await this.db.transaction((tx) =>
      appendAudit(tx, { action: 'subject.report', actor: auditor.username, subject: q.username, details: { reason: q.reason, ...window, format } }),
    );
    const presence = await subjectPresence(this.warehouse, this.prefix, q.username);
    // Fail closed: when the lookup cannot say, every dataset may hold the person's rows.
    const holding = presence.checked
      ? this.datasets.filter((d) => d.tables.some((t) => presence.tables.some((p) => p.table === t)))
      : [...this.datasets];
    const datasets = holding.map((d) => d.name);
    const tables = presence.checked ? presence.tables.map((t) => t.table) : [...new Set(holding.flatMap((d) => d.tables))];
    const terms = [q.username, ...(presence.checked ? presence.pseudonyms : [])];
    const w = { from: q.from, to: q.to };
    const none = tables.length === 0;
    const [grants, who, counts, namingReads, latestReads, alerts] = await Promise.all([
      datasets.length ? grantsOverlapping(this.db, datasets, w, REPORT_LIMITS.grants) : { rows: [], total: 0 },
      none ? [] : readers(this.db, tables, w),
      none ? { reads: 0, naming: 0 } : readCounts(this.db, tables, w, terms),
      none ? [] : reads(this.db, tables, w, terms, { limit: REPORT_LIMITS.namingReads, naming: true }),
      none ? [] : reads(this.db, tables, w, terms, { limit: REPORT_LIMITS.reads, naming: false }),
      none ? [] : alertsOn(this.db, tables, w, REPORT_LIMITS.alerts),
    ]);
    return {
      username: q.username,
      window,
      reason: q.reason,
      requestedBy: auditor.username,
      generatedAt: new Date().toISOString(),
      reportEventId,
      presence,
      datasets,
      tables,
      grants: grants.rows,
      grantsTotal: grants.total,
      readers: who,
      readsTotal: counts.reads,
      namingTotal: counts.naming,
      namingReads,
      latestReads,
      alerts,
      limits: REPORT_LIMITS,
    };
  }
}
