// GET /api/audit/subjects/:username: the data-subject report as JSON (auditors; the JSON export of
// the printable page /audit/subjects). Every call needs a stated reason and is a `subject.report`
// event on the access log.
import type pg from 'pg';
import { z } from '@hono/zod-openapi';
import { controlDb } from '../db/client.js';
import type { Policy } from '../policy/schema.js';
import { SubjectReports, parseSubjectQuery } from '../subjects/service.js';
import { apiRoute, apiRouter, errorResponses, json } from './openapi.js';

export interface SubjectRouteDeps {
  controlPool: pg.Pool;
  warehousePool: pg.Pool;
  policy: Policy;
  rolePrefix: string;
}

const instant = z.iso.datetime();
const nullableInstant = instant.nullable();
const count = z.number().int().nonnegative();

const readRow = z.strictObject({
  eventId: z.number().int().positive(),
  at: instant.openapi({ description: 'When the read was recorded in the access log.' }),
  loggedAt: z.string().nullable().openapi({ description: 'When PostgreSQL logged the statement.' }),
  analyst: z.string().nullable().openapi({ description: 'null: a login role the gate does not manage (e.g. a DBA hand grant).' }),
  role: z.string(),
  objects: z.array(z.string()),
  requestId: z.number().int().nullable(),
  dataset: z.string().nullable(),
  purpose: z.string().nullable(),
  outsideGrant: z.boolean().openapi({ description: 'No approved request covered this read.' }),
  statement: z.string().nullable().openapi({ description: 'The SQL text, null once retention pruned it.' }),
  statementSha256: z.string().nullable(),
  namesSubject: z.boolean().nullable().openapi({ description: 'The retained text names the username or pseudonym (whole word, any case); null without text.' }),
});

export const subjectReportResponse = z
  .strictObject({
    username: z.string(),
    window: z.strictObject({ from: instant, to: instant }),
    reason: z.string(),
    requestedBy: z.string(),
    generatedAt: instant,
    reportEventId: z.number().int().positive().openapi({ description: 'The `subject.report` event recording this report.' }),
    presence: z.union([
      z.strictObject({
        checked: z.literal(true),
        pseudonyms: z.array(z.string()).openapi({ description: 'The person\'s pseudonyms (one per key period when pseudonyms rotate); empty when the warehouse does not know them.' }),
        tables: z.array(z.strictObject({ table: z.string(), rows: count })).openapi({ description: 'PII tables with rows about the person, and how many (never a value).' }),
      }),
      z.strictObject({ checked: z.literal(false), detail: z.string() }),
    ]),
    datasets: z.array(z.string()),
    tables: z.array(z.string()),
    grants: z.array(
      z.strictObject({
        grantId: z.number().int(),
        requestId: z.number().int(),
        analyst: z.string(),
        dataset: z.string(),
        purpose: z.string(),
        approvers: z.array(z.string()),
        startsAt: instant,
        expiresAt: instant,
        endedAt: nullableInstant,
        endReason: z.string().nullable(),
        endedBy: z.string().nullable(),
      }),
    ),
    grantsTotal: count,
    readers: z.array(
      z.strictObject({
        analyst: z.string().nullable(),
        role: z.string(),
        requestIds: z.array(z.number().int()).openapi({ description: 'The requests the reads were made under (see grants).' }),
        reads: count,
        outsideGrant: count,
        first: instant,
        last: instant,
      }),
    ),
    readsTotal: count,
    namingTotal: count,
    namingReads: z.array(readRow),
    latestReads: z.array(readRow),
    alerts: z.array(
      z.strictObject({
        eventId: z.number().int(),
        at: instant,
        analyst: z.string().nullable(),
        rule: z.string(),
        reason: z.string(),
        readEventId: z.number().int(),
        requestId: z.number().int().nullable(),
      }),
    ),
    limits: z.strictObject({ grants: count, reads: count, namingReads: count, alerts: count }),
  })
  .openapi('SubjectReport');

const param = (description: string, example?: string) => z.string().optional().openapi({ description, ...(example ? { example } : {}) });

const getReport = apiRoute({
  method: 'get',
  path: '/subjects/{username}',
  action: 'audit.subjects',
  tags: ['Access log'],
  summary: 'Data-subject report',
  description:
    'Auditors only. For one Fedora username and a window (default: the year up to now): the pseudonym and the PII datasets holding rows about the person (table names and counts only), every grant of those datasets overlapping the window, who read those tables (per reader, the newest reads, and those whose retained text names the person), and the alerts raised on those reads. `reason` is required; every call is a `subject.report` event.',
  request: {
    params: z.object({ username: z.string().openapi({ param: { name: 'username', in: 'path' }, example: 'alice' }) }),
    query: z.object({
      reason: z.string().openapi({ description: 'Why the report is needed (10 to 500 characters); recorded with it.', example: 'Subject access request of 2026-11-30' }),
      from: param('Start of the window: an ISO-8601 date or date-time.', '2026-01-01'),
      to: param('End of the window (default: now).'),
    }),
  },
  responses: { 200: json(subjectReportResponse, 'The report.'), ...errorResponses('forbidden') },
});

export function subjectApiRoutes(deps: SubjectRouteDeps) {
  const reports = new SubjectReports(controlDb(deps.controlPool), deps.warehousePool, deps.policy.pii_datasets, deps.rolePrefix);
  return apiRouter().openapi(getReport, async (c) => {
    const q = parseSubjectQuery(c.req.param('username'), c.req.query());
    const report = await reports.report(c.get('identity')!, q, 'json');
    c.header('Cache-Control', 'no-store');
    return c.json(report, 200);
  });
}
