// The one way in: every runtime (Node, Workers, tests) builds the gate here and only adapts it.
import { type Context, Hono } from 'hono';
import { routePath } from 'hono/route';
import type pg from 'pg';
import { DenialLog } from './access/denials.js';
import { assertEveryRouteDeclared, guard } from './access/guard.js';
import { serveApi } from './api/openapi.js';
import { apiApp } from './api/routes.js';
import { cliApiRoutes } from './api/cli-routes.js';
import { pgauditStatus } from './audit/pgaudit.js';
import { chainMonitor } from './audit/query.js';
import { sameOrigin } from './auth/csrf.js';
import { createOidc } from './auth/oidc.js';
import { CliLogins } from './auth/cli-login.js';
import { SESSION_LIFETIME_SECONDS, SessionStore } from './auth/sessions.js';
import { GateTokens, TOKEN_MAX_SECONDS } from './auth/tokens.js';
import type { AppConfig } from './config.js';
import { controlDb } from './db/client.js';
import { within } from './deadline.js';
import { AppError, classifyUnexpected, errorBody } from './errors.js';
import { createLogger, type Logger } from './log.js';
import type { Policy } from './policy/schema.js';
import { Provisioner } from './provisioner/provisioner.js';
import { CredentialService } from './credentials/service.js';
import { GateService } from './admission/service.js';
import { SignIns } from './admission/sign-ins.js';
import { Sweeper } from './credentials/lease-sweeper.js';
import { GrantSweeper } from './requests/grant-sweeper.js';
import { PiiRequestService } from './requests/service.js';
import { requestWebRoutes } from './web/request-routes.js';
import { WebhookDispatcher } from './notify/dispatcher.js';
import type { AppEnv, Services } from './types.js';
import { auditWebRoutes } from './web/audit-routes.js';
import { subjectWebRoutes } from './web/subject-routes.js';
import { ErrorPage } from './web/pages.js';
import { securityHeaders } from './web/security-headers.js';
import { webRoutes } from './web/routes.js';
import { adminWebRoutes } from './web/admin-routes.js';
import { cliWebRoutes } from './web/cli-routes.js';
import { Reconciler } from './reconcile/service.js';
import { PasswordSupply } from './credentials/password-supply.js';
import { type MetricsSource, databaseMetrics, requireMetricsToken } from './metrics/endpoint.js';

export interface AppDeps {
  config: AppConfig;
  policy: Policy;
  /** The gate's own state. */
  controlPool: pg.Pool;
  /** The warehouse, as the provisioner login (CREATEROLE, not superuser). */
  warehousePool: pg.Pool;
  logger?: Logger;
  /** GET /metrics and per-request counters (Node: prom-client); default: what the database answers. */
  metrics?: MetricsSource & { observeRequest?(method: string, route: string, status: number, seconds: number): void };
  /** While draining (after SIGTERM) /healthz/ready answers 503 so the load balancer stops sending. */
  draining?: () => boolean;
  /**
   * Fresh passwords kept ready for credential issues (src/credentials/password-supply.ts); default
   * 2. Workers pass 0: an invocation's services end with it, so pairs made ahead would be waste.
   */
  passwordsAhead?: number;
}

export function createServices(deps: AppDeps): Services {
  const db = controlDb(deps.controlPool);
  const provisioner = new Provisioner(deps.warehousePool, deps.config.rolePrefix, deps.policy.credentials);
  const gate = new GateService(db, deps.policy, deps.config.rolePrefix);
  const sessions = new SessionStore(db, deps.controlPool, deps.config.sessionSecret, deps.config.sessionRefreshSeconds ?? 15 * 60, SESSION_LIFETIME_SECONDS, deps.policy.agreement.version);
  const tokens = new GateTokens(db, deps.config.sessionSecret, deps.config.publicUrl, Math.min(deps.config.tokenTtlSeconds ?? TOKEN_MAX_SECONDS, TOKEN_MAX_SECONDS));
  const denials = new DenialLog(db);
  const requests = new PiiRequestService(db, gate, provisioner, deps.policy, deps.config.rolePrefix, denials);
  const credentials = new CredentialService(db, gate, provisioner, deps.policy.credentials, {
    piiAccess: requests,
    passwords: new PasswordSupply(deps.passwordsAhead ?? 2),
  });
  return {
    gate,
    provisioner,
    credentials,
    sweeper: new Sweeper(db, provisioner),
    requests,
    grantSweeper: new GrantSweeper(db, provisioner, deps.policy),
    webhooks: deps.config.webhook ? new WebhookDispatcher(db, deps.config.webhook) : undefined,
    reconciler: new Reconciler({ policy: deps.policy, prefix: deps.config.rolePrefix, warehouse: deps.warehousePool, control: deps.controlPool }),
    sessions,
    tokens,
    cliLogins: new CliLogins(db, sessions, tokens, deps.config.cliPollSeconds ?? 5),
    denials,
    signIns: new SignIns(gate, credentials, sessions),
  };
}

const wantsJson = (path: string, accept: string | undefined) =>
  path.startsWith('/api/') || path.startsWith('/healthz') || path === '/metrics' || (accept?.includes('application/json') ?? false);

export function createApp(deps: AppDeps, services: Services = createServices(deps)) {
  const { config, policy } = deps;
  const logger = deps.logger ?? createLogger();
  const oidc = createOidc(config);
  const app = new Hono<AppEnv>();

  app.use('*', async (c, next) => {
    const started = performance.now();
    // A caller's own X-Request-Id is kept when it is a plain token (what hono's requestId accepts).
    const asked = c.req.header('X-Request-Id');
    const id = asked && asked.length <= 255 && !/[^\w\-=]/.test(asked) ? asked : crypto.randomUUID();
    c.set('requestId', id);
    c.set('services', services);
    await next();
    c.res.headers.set('X-Request-Id', id);
    deps.metrics?.observeRequest?.(c.req.method, routePath(c), c.res.status, (performance.now() - started) / 1000);
    logger.info('request', {
      id,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
      user: c.get('identity')?.username,
    });
  });
  // The loopback CLI sign-in page posts a form whose answer redirects to the CLI's listener on
  // 127.0.0.1; form-action governs that redirect too. Only this page may send forms there.
  // (Registered before securityHeaders, so this runs after it has set the policy.)
  app.use('/cli/authorize', async (c, next) => {
    await next();
    const csp = c.res.headers.get('Content-Security-Policy');
    if (csp) c.res.headers.set('Content-Security-Policy', csp.replace('form-action ', 'form-action http://127.0.0.1:* http://[::1]:* '));
  });
  app.use(
    '*',
    securityHeaders({
      // Sign-out posts here and is redirected to the issuer's end-session page.
      formActionOrigins: [oidc.issuerOrigin],
      strictTransportSecurity: config.publicUrl.startsWith('https://') ? 'max-age=31536000; includeSubDomains' : false,
    }),
  );

  // Answered before any credential is read: a bad cookie or token never fails a health check.
  const health = async (c: Context<AppEnv>) => {
    // Each check gets HEALTH_CHECK_MS: a frozen database (connections accepted, nothing answered)
    // must make this a prompt 503, not a request that hangs as long as the freeze.
    const HEALTH_CHECK_MS = 2_000;
    const inTime = <T,>(work: Promise<T>) => within(work, HEALTH_CHECK_MS, () => new Error(`no answer within ${HEALTH_CHECK_MS} ms`));
    const check = async (name: 'control' | 'warehouse', fn: () => Promise<unknown>) => {
      try {
        await inTime(fn());
        return [name, { ok: true }] as const;
      } catch (err) {
        // The reason goes to the log, not to this unauthenticated endpoint.
        logger.warn('health check failed', { check: name, error: (err as Error).message });
        return [name, { ok: false, error: 'not answering' }] as const;
      }
    };
    const [control, warehouse, pgaudit, issuer] = await Promise.all([
      check('control', () => deps.controlPool.query({ text: 'SELECT 1', query_timeout: HEALTH_CHECK_MS } as pg.QueryConfig)),
      check('warehouse', () => services.provisioner.ping()),
      // Informational only: whether PostgreSQL logs PII reads never decides readiness.
      inTime(pgauditStatus(deps.warehousePool, services.provisioner.roles.piiAudit)).catch(() => ({
        available: false,
        role: null,
        detail: 'The pgaudit status could not be read.',
      })),
      // Informational too: signed-in people keep working while the issuer is away (sign-ins and
      // refreshes answer 503), so taking the gate out of a load balancer would only make it worse.
      inTime(oidc.ping()).then(
        () => ({ ok: true }),
        () => ({ ok: false, error: 'not answering: sign-ins and session refreshes answer 503' }),
      ),
    ]);
    const down = [control, warehouse].filter(([, r]) => !r.ok).map(([name]) => name);
    const checks = Object.fromEntries([control, warehouse]);
    const ready = down.length === 0;
    return c.json({ status: ready ? 'ready' : 'unavailable', down, checks: { ...checks, pgaudit, issuer }, demo: config.demo }, ready ? 200 : 503);
  };
  app.get('/healthz', guard('health'), health);
  // Kubernetes: liveness is the process answering at all (a database outage must not restart it);
  // readiness is /healthz, and 503 once draining so no new request is sent here.
  app.get('/healthz/live', guard('health'), (c) => c.json({ status: 'live' }));
  app.get('/healthz/ready', guard('health'), (c) => (deps.draining?.() ? c.json({ status: 'draining', down: [] }, 503) : health(c)));

  // Before the gate reads credentials: the scraper's bearer token is not a gate token.
  const metrics = deps.metrics ?? databaseMetrics();
  app.get('/metrics', guard('metrics'), async (c) => {
    await requireMetricsToken(c, config.metricsToken);
    c.header('Cache-Control', 'no-store');
    return c.body(await metrics.scrape(deps.controlPool), 200, { 'Content-Type': metrics.contentType });
  });

  // Public keys of gate tokens (ES256): retired keys drop out once their tokens have expired.
  app.get('/.well-known/jwks.json', guard('health'), async (c) => {
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(await services.tokens.publicJwks());
  });

  app.use('*', sameOrigin(config.publicUrl));
  // The OIDC library only runs in the sign-in routes; configuring it per request elsewhere is waste.
  app.use('/auth/*', oidc.setup);
  app.use('*', oidc.loadIdentity);
  const chain = chainMonitor(deps.controlPool);
  // The JSON API: one OpenAPIHono holds every /api route, documented at /openapi.json and /api/docs.
  // Mount further /api sub-apps on `api` (api.route(...)) before serveApi.
  const api = apiApp({ config, policy, controlPool: deps.controlPool, warehousePool: deps.warehousePool, chain });
  api.route('/', cliApiRoutes(config));
  serveApi(app, api, config);
  app.route('/audit/subjects', subjectWebRoutes(config, { controlPool: deps.controlPool, warehousePool: deps.warehousePool, policy }));
  app.route('/audit', auditWebRoutes(config, { controlPool: deps.controlPool, warehousePool: deps.warehousePool, piiAuditRole: services.provisioner.roles.piiAudit, piiSchemas: policy.tiers.pii.schemas, chain }));
  app.route('/', requestWebRoutes(config, policy));
  app.route('/cli', cliWebRoutes(config, policy));
  app.route('/admin', adminWebRoutes(config, { controlPool: deps.controlPool }));
  app.route('/', webRoutes(config, policy, oidc));

  app.notFound((c) => {
    const err = new AppError('not_found', `Nothing at ${c.req.method} ${c.req.path}.`);
    if (wantsJson(c.req.path, c.req.header('accept'))) return c.json(errorBody(err, c.get('requestId')), 404);
    return c.html(<ErrorPage title="Not found" demo={config.demo} identity={c.get('identity') ?? null} status={404} message={err.message} nonce={c.get('secureHeadersNonce')} />, 404);
  });

  app.onError((raw, c) => {
    const err = classifyUnexpected(raw);
    const id = c.get('requestId');
    if (err.code === 'internal' || err.code === 'db_unavailable') {
      // Server-side detail only; the client gets the request id.
      logger.error('unhandled error', { id, path: c.req.path, error: raw instanceof Error ? raw.stack : String(raw) });
    }
    if (wantsJson(c.req.path, c.req.header('accept'))) return c.json(errorBody(err, id), err.status);
    const titles: Partial<Record<typeof err.code, string>> = {
      not_admitted: 'Not admitted',
      agreement_required: 'Agreement needed',
      rate_limited: 'Too many attempts',
      expired: 'Expired',
      forbidden: 'Not allowed',
      idp_unavailable: 'Sign-in service unavailable',
      db_unavailable: 'Database unavailable',
      payload_too_large: 'Too large',
      csrf_failed: 'Request refused',
      unauthenticated: 'Please sign in',
      bad_request: 'That did not work',
    };
    return c.html(
      <ErrorPage
        title={titles[err.code] ?? 'Something went wrong'}
        demo={config.demo}
        identity={c.get('identity') ?? null}
        status={err.status}
        message={err.message}
        requestId={id}
        retry={err.code === 'unauthenticated' || err.code === 'bad_request' || err.code === 'idp_unavailable'}
        nonce={c.get('secureHeadersNonce')}
      />,
      err.status,
    );
  });

  // Every route declares its access action (src/access/rules.ts): an app with one that does not
  // never serves a request.
  assertEveryRouteDeclared(app);
  return app;
}
