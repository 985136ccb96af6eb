// The JSON API beside the pages, same services: one OpenAPIHono holds every /api route (so
// /openapi.json documents all of them); this file also has the account routes.
import type pg from 'pg';
import { statusHere } from '../access/guard.js';
import type { ChainMonitor } from '../audit/query.js';
import type { AppConfig } from '../config.js';
import type { Policy } from '../policy/schema.js';
import { connectionSnippets } from '../credentials/connection.js';
import { auditApiRoutes } from './audit-routes.js';
import { subjectApiRoutes } from './subject-routes.js';
import { DocsPage } from './docs-page.js';
import { apiDocument, apiGuard, apiRoute, apiRouter, errorResponses, json, z } from './openapi.js';
import { requestApiRoutes } from './request-routes.js';
import { agreementResponse, issuedCredential, meResponse, revokeResult } from './responses.js';
import { agreementRequest, credentialRequest } from './schemas.js';

export interface ApiDeps {
  config: AppConfig;
  policy: Policy;
  /** The control database (the access log lives there). */
  controlPool: pg.Pool;
  /** The warehouse (the data-subject report's lookup); without it /api/audit/subjects is not served. */
  warehousePool?: pg.Pool;
  chain: ChainMonitor;
}

/**
 * Everything served under /api. Mount further OpenAPIHono sub-apps on the result before it is
 * mounted itself (hono copies routes at `route()` time); they are then guarded and documented too.
 */
export function apiApp(deps: ApiDeps) {
  const api = apiRouter();
  api.use('*', apiGuard);
  // Before the access log's routes: their catch-all guard would record a refusal as `audit.read`.
  if (deps.warehousePool) {
    api.route('/audit', subjectApiRoutes({ controlPool: deps.controlPool, warehousePool: deps.warehousePool, policy: deps.policy, rolePrefix: deps.config.rolePrefix }));
  }
  api.route('/audit', auditApiRoutes({ controlPool: deps.controlPool, chain: deps.chain }));
  api.route('/', requestApiRoutes(deps.policy));
  api.route('/', accountRoutes(deps.config, deps.policy));

  const document = apiDocument(api, deps.config);
  api.openapi(
    apiRoute({
      method: 'get',
      path: '/docs',
      action: 'public',
      tags: ['Reference'],
      summary: 'This reference, as a page',
      description: 'Every operation of the API with its parameters, body fields and answers, rendered from `/openapi.json` (the machine-readable document). Open to everyone.',
      responses: { 200: { description: 'An HTML page.', content: { 'text/html': { schema: z.string() } } } },
    }),
    (c) => c.html(DocsPage({ document: document(), nonce: c.get('secureHeadersNonce') })),
  );
  return api;
}

const me = apiRoute({
  method: 'get',
  path: '/me',
  action: 'me.read',
  tags: ['Account'],
  summary: 'Who you are and where you stand',
  description:
    'Your identity and groups, what the policy lets you do, whether you accepted the current data-use agreement, whether you are admitted to the warehouse, your live credential lease and the credential lifetimes.',
  responses: { 200: json(meResponse, 'You.') },
});

const acceptAgreement = apiRoute({
  method: 'post',
  path: '/agreement',
  action: 'agreement.accept',
  tags: ['Account'],
  summary: 'Accept the data-use agreement',
  description: 'Accepts the current version (FDWG members only). Accepting it again changes nothing. An older version is a 409 whose `details.currentVersion` names the current one.',
  request: { body: { content: { 'application/json': { schema: agreementRequest } } } },
  responses: { 200: json(agreementResponse, 'Accepted (now or before).'), ...errorResponses('not_admitted', 'conflict') },
});

const issueCredential = apiRoute({
  method: 'post',
  path: '/credentials',
  action: 'credentials.issue',
  tags: ['Account'],
  summary: 'Issue a warehouse password',
  description:
    'Admitted members only. Issues a new password for your warehouse role (the previous one stops working for new logins); the password is shown in this answer only. A `ttlSeconds` above the policy maximum is cut to it (`capped`).',
  request: { body: { content: { 'application/json': { schema: credentialRequest } } } },
  responses: { 201: json(issuedCredential, 'Issued.'), ...errorResponses('not_admitted', 'agreement_required') },
});

const revokeCredentials = apiRoute({
  method: 'delete',
  path: '/credentials',
  action: 'credentials.revoke',
  tags: ['Account'],
  summary: 'Revoke your warehouse access',
  description: 'No new logins with any issued password, and your live warehouse sessions are terminated. Safe to call with nothing live.',
  responses: { 200: json(revokeResult, 'Revoked.'), ...errorResponses('not_admitted') },
});

function accountRoutes(config: AppConfig, policy: Policy) {
  return apiRouter()
    .openapi(me, async (c) => {
      const identity = c.get('identity')!;
      // Read with the session or token row in the request's one statement (credentials.current
      // only when the status came from elsewhere).
      const status = await statusHere(c);
      const lease = !status.analyst ? null : status.liveLease !== undefined ? status.liveLease : await c.get('services').credentials.current(status.analyst.id);
      return c.json(
        {
          username: identity.username,
          email: identity.email,
          groups: identity.groups,
          standing: status.standing,
          agreement: status.agreement,
          admitted: status.admitted,
          role: status.analyst?.roleName ?? null,
          credential: lease && { id: lease.id, issuedAt: lease.issuedAt, expiresAt: lease.expiresAt },
          policy: { ttlDefault: policy.credentials.ttl_default, ttlMax: policy.credentials.ttl_max },
        },
        200,
      );
    })
    .openapi(acceptAgreement, async (c) => {
      const { version } = c.req.valid('json');
      await c.get('services').gate.acceptAgreement(c.get('identity')!, version);
      return c.json({ accepted: true as const, version }, 200);
    })
    .openapi(issueCredential, async (c) => {
      const body = c.req.valid('json');
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
    })
    .openapi(revokeCredentials, async (c) => {
      return c.json(await c.get('services').credentials.revoke(c.get('identity')!), 200);
    });
}
