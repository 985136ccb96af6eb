// The access log as JSON, for auditors only (auditor policy groups). Same filters as the pages.
import { Hono, type Context } from 'hono';
import type pg from 'pg';
import { type ChainMonitor, eventDetail, nextCursor, parseAuditQuery, searchEvents } from '../audit/query.js';
import { controlDb } from '../db/client.js';
import { AppError } from '../errors.js';
import { bigintId, printable } from './schemas.js';
import type { AppEnv } from '../types.js';

export interface AuditRouteDeps {
  /** The control database (the log lives there). */
  controlPool: pg.Pool;
  chain: ChainMonitor;
}

/** Signed in, and in an auditor group: nothing else opens the log (approvers and admins neither). */
export function requireAuditor(c: Context<AppEnv>) {
  const identity = c.get('identity');
  if (!identity) throw new AppError('unauthenticated', 'Sign in first (GET /auth/login).');
  if (!c.get('services').gate.standing(identity).auditor) {
    throw new AppError('forbidden', 'The access log is open to auditors only.');
  }
  return identity;
}

/** Event ids in paths: a positive bigserial id, else a 400 (never a database error). */
export function eventIdParam(value: string): number {
  const id = bigintId.safeParse(value);
  if (!id.success) throw new AppError('bad_request', `Invalid event id "${printable(value)}": ${id.error.issues[0]!.message}`);
  return id.data;
}

export function auditApiRoutes(deps: AuditRouteDeps) {
  const api = new Hono<AppEnv>();
  const db = controlDb(deps.controlPool);

  api.use('*', async (c, next) => {
    requireAuditor(c);
    c.header('Cache-Control', 'no-store');
    await next();
  });

  api.get('/events', async (c) => {
    const q = parseAuditQuery(c.req.query(), 'api');
    const page = await searchEvents(db, q.filter, q);
    return c.json({ events: page.events, nextCursor: nextCursor(page) });
  });

  api.get('/events/:id', async (c) => {
    const id = eventIdParam(c.req.param('id'));
    const detail = await eventDetail(db, id);
    if (!detail) throw new AppError('not_found', `No event ${id} in the access log.`);
    return c.json(detail);
  });

  api.get('/chain', async (c) => c.json(await deps.chain.status(0)));

  return api;
}
