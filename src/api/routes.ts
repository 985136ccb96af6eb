// JSON API beside the pages, same services. Errors come out as { error: { code, message } }.
import { Hono } from 'hono';
import type { AppConfig } from '../config.js';
import { AppError } from '../errors.js';
import type { Policy } from '../policy/schema.js';
import { connectionSnippets } from '../services/connection.js';
import type { AppEnv } from '../types.js';
import { agreementRequest, credentialRequest } from './schemas.js';
import { jsonBody } from './validate.js';

export function apiRoutes(config: AppConfig, policy: Policy) {
  const api = new Hono<AppEnv>();

  api.use('*', async (c, next) => {
    if (!c.get('identity')) throw new AppError('unauthenticated', 'Sign in first (GET /auth/login).');
    c.header('Cache-Control', 'no-store');
    await next();
  });

  api.get('/me', async (c) => {
    const identity = c.get('identity')!;
    const { gate, credentials } = c.get('services');
    const status = await gate.status(identity);
    const lease = status.analyst ? await credentials.current(status.analyst.id) : null;
    return c.json({
      username: identity.username,
      email: identity.email,
      groups: identity.groups,
      standing: status.standing,
      agreement: status.agreement,
      admitted: status.admitted,
      role: status.analyst?.roleName ?? null,
      credential: lease && { id: lease.id, issuedAt: lease.issuedAt, expiresAt: lease.expiresAt },
      policy: { ttlDefault: policy.credentials.ttl_default, ttlMax: policy.credentials.ttl_max },
    });
  });

  api.post('/agreement', async (c) => {
    const { version } = await jsonBody(c, agreementRequest);
    await c.get('services').gate.acceptAgreement(c.get('identity')!, version);
    return c.json({ accepted: true, version });
  });

  api.post('/credentials', async (c) => {
    const body = await jsonBody(c, credentialRequest);
    const cr = await c.get('services').credentials.issue(c.get('identity')!, body.ttlSeconds);
    return c.json(
      {
        id: cr.id,
        role: cr.roleName,
        password: cr.password,
        issuedAt: cr.issuedAt,
        expiresAt: cr.expiresAt,
        ttlSeconds: cr.ttlSeconds,
        capped: cr.capped,
        connection: { ...config.analystDb, ...connectionSnippets(config.analystDb, cr.roleName, cr.password) },
      },
      201,
    );
  });

  api.delete('/credentials', async (c) => {
    const result = await c.get('services').credentials.revoke(c.get('identity')!);
    return c.json(result);
  });

  return api;
}
