// The access log as JSON, for auditors only (auditor policy groups). Same filters as the pages.
import type pg from 'pg';
import { guard } from '../access/guard.js';
import { LIMIT_DEFAULT, LIMIT_MAX, type ChainMonitor, eventDetail, nextCursor, parseAuditQuery, searchEvents } from '../audit/query.js';
import { auditActions } from '../audit/log.js';
import { controlDb } from '../db/client.js';
import { AppError } from '../errors.js';
import { apiRoute, apiRouter, errorResponses, json, z } from './openapi.js';
import { chainStatusResponse, eventDetailResponse, eventPage } from './responses.js';
import { bigintId, eventIdPath, printable } from './schemas.js';

export interface AuditRouteDeps {
  /** The control database (the log lives there). */
  controlPool: pg.Pool;
  chain: ChainMonitor;
}

/** Event ids in paths of the pages: a positive bigserial id, else a 400 (never a database error). */
export function eventIdParam(value: string): number {
  const id = bigintId.safeParse(value);
  if (!id.success) throw new AppError('bad_request', `Invalid event id "${printable(value)}": ${id.error.issues[0]!.message}`);
  return id.data;
}

// Documented here; checked by parseAuditQuery, the one parser the pages and exports share (an
// unknown parameter is a 400 too, so a typo never widens the result).
const param = (description: string, example?: string) => z.string().optional().openapi({ description, ...(example ? { example } : {}) });
const eventQuery = z.object({
  analyst: param('Events about this analyst (username).', 'alice'),
  actor: param('Events caused by this username (or `system:<component>`).'),
  action: param(`One action: ${auditActions.map((a) => `\`${a}\``).join(', ')}.`, 'pii.granted'),
  dataset: param('Events about this PII dataset.'),
  request: param('Events of this PII request (its id).'),
  from: param('At or after this time: an ISO-8601 date or date-time (UTC when no zone is given), years 1 to 9999.', '2026-01-01'),
  to: param('At or before this time, as `from`.'),
  cursor: param('`nextCursor` of the previous page: continue with older events.'),
  limit: param(`Events per page, 1 to ${LIMIT_MAX} (default ${LIMIT_DEFAULT}).`, String(LIMIT_DEFAULT)),
});

const listEvents = apiRoute({
  method: 'get',
  path: '/events',
  action: 'audit.read',
  tags: ['Access log'],
  summary: 'Search the access log',
  description: 'Auditors only. Events newest first, filtered; every filter must hold. Page with `cursor` (keyset paging: stable while new events arrive).',
  request: { query: eventQuery },
  responses: { 200: json(eventPage, 'One page of events.'), ...errorResponses('forbidden') },
});

const getEvent = apiRoute({
  method: 'get',
  path: '/events/{id}',
  action: 'audit.read',
  tags: ['Access log'],
  summary: 'One event',
  description: 'Auditors only. The event, the SQL text of a `pii.read` (unless retention pruned it; its SHA-256 stays) and the ids of its neighbours in the chain.',
  request: { params: eventIdPath },
  responses: { 200: json(eventDetailResponse, 'The event.'), ...errorResponses('forbidden', 'not_found') },
});

const chainStatus = apiRoute({
  method: 'get',
  path: '/chain',
  action: 'audit.read',
  tags: ['Access log'],
  summary: 'Verify the hash chain',
  description: 'Auditors only. Walks the whole chain now (concurrent calls share one walk) and names the first broken link, if any: its id, the expected and the found hash.',
  responses: { 200: json(chainStatusResponse, 'The result of the walk.'), ...errorResponses('forbidden') },
});

export function auditApiRoutes(deps: AuditRouteDeps) {
  const db = controlDb(deps.controlPool);
  // Every route is `audit.read` (auditors only: never approvers or admins by virtue of those
  // roles); so is anything else under /api/audit, known or not.
  return apiRouter()
    .openapi(listEvents, async (c) => {
      const q = parseAuditQuery(c.req.query(), 'api');
      const page = await searchEvents(db, q.filter, q);
      return c.json({ events: page.events, nextCursor: nextCursor(page) }, 200);
    })
    .openapi(getEvent, async (c) => {
      const { id } = c.req.valid('param');
      const detail = await eventDetail(db, id);
      if (!detail) throw new AppError('not_found', `No event ${id} in the access log.`);
      return c.json(detail, 200);
    })
    .openapi(chainStatus, async (c) => c.json(await deps.chain.status(0), 200))
    .all('*', guard('audit.read'));
}
