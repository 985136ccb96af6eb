// JSON API of the PII tier: requests (analysts), the approval queue and decisions (approvers),
// early revoke (approvers and admins). Same service as the pages.
import { Hono, type Context } from 'hono';
import { AppError } from '../errors.js';
import type { Policy } from '../policy/schema.js';
import type { AppEnv } from '../types.js';
import { emptyBody, grantRevoke, int4Id, piiRequestCreate, piiReview, printable } from './schemas.js';
import { jsonBody } from './validate.js';

/** Ids in paths: a PostgreSQL integer (1 to 2147483647), else a 400 (never a database error). */
export function pathId(c: Context, name = 'id'): number {
  const raw = c.req.param(name) ?? '';
  const id = int4Id.safeParse(raw);
  if (!id.success) throw new AppError('bad_request', `Invalid id "${printable(raw)}": ${id.error.issues[0]!.message}.`);
  return id.data;
}

export function requestApiRoutes(policy: Policy) {
  const api = new Hono<AppEnv>();

  api.use('*', async (c, next) => {
    if (!c.get('identity')) throw new AppError('unauthenticated', 'Sign in first (GET /auth/login).');
    c.header('Cache-Control', 'no-store');
    await next();
  });

  api.get('/datasets', (c) => {
    c.get('services').requests.requireMember(c.get('identity')!);
    return c.json({
      datasets: policy.pii_datasets.map((d) => ({
        name: d.name,
        description: d.description,
        tables: d.tables,
        maxDurationSeconds: d.max_duration,
        approvalsRequired: d.approvals_required,
        minPurposeLength: d.min_purpose_length,
      })),
      reviewWindowSeconds: policy.requests.review_window,
    });
  });

  api.post('/requests', async (c) => {
    const body = await jsonBody(c, piiRequestCreate);
    const request = await c.get('services').requests.create(c.get('identity')!, body);
    return c.json(request, 201);
  });

  api.get('/requests', async (c) => {
    const requests = await c.get('services').requests.mine(c.get('identity')!);
    return c.json({ requests });
  });

  api.post('/requests/:id/withdraw', async (c) => {
    const id = pathId(c);
    await jsonBody(c, emptyBody);
    return c.json(await c.get('services').requests.withdraw(c.get('identity')!, id));
  });

  api.post('/requests/:id/relinquish', async (c) => {
    const id = pathId(c);
    await jsonBody(c, emptyBody);
    return c.json(await c.get('services').requests.relinquish(c.get('identity')!, id));
  });

  api.post('/requests/:id/reviews', async (c) => {
    const id = pathId(c);
    const body = await jsonBody(c, piiReview);
    const result = await c.get('services').requests.review(c.get('identity')!, id, body.decision, body.comment);
    return c.json(result);
  });

  api.get('/approvals', async (c) => {
    return c.json(await c.get('services').requests.approvals(c.get('identity')!));
  });

  api.post('/grants/:id/revoke', async (c) => {
    const id = pathId(c);
    const body = await jsonBody(c, grantRevoke);
    return c.json(await c.get('services').requests.revokeGrant(c.get('identity')!, id, body.comment));
  });

  return api;
}
