// GET /metrics on Node: a scripted flow through the real app, then a scrape; every counter the flow
// touches moved by exactly what the flow did (HTTP by route pattern and status, credentials from
// the access log, a late expiry, PII requests by state, background runs). Callers without the
// scraper's token are refused, whoever they are.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../src/app.js';
import { SESSION_COOKIE } from '../src/auth/oidc.js';
import { createLogger } from '../src/log.js';
import { createNodeMetrics } from '../src/metrics/node.js';
import { observeRuns } from '../src/node/every.js';
import { startReconciling } from '../src/node/reconciling.js';
import { startSweeping } from '../src/node/sweeping.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { HttpSession, signIn } from './support/http-session.js';
import { withClient } from './support/pg.js';
import { type Scrape, parsePrometheus, sample } from './support/prometheus.js';

const TOKEN = 'scraper-token-0123456789-0123456789-abcdef';
let gate: TestGate;
let app: ReturnType<typeof createApp>;
let cookie: string;
const metrics = createNodeMetrics({ defaultMetrics: false });

beforeAll(async () => {
  gate = await startTestGate({ demoMessages: 200 });
  app = createApp(
    {
      config: { ...gate.config, metricsToken: TOKEN },
      policy: gate.policy,
      controlPool: gate.controlPool,
      warehousePool: gate.warehousePool,
      metrics,
      logger: createLogger('error', () => {}),
    },
    gate.services,
  );
  const alice = new HttpSession();
  await signIn(alice, gate.url, 'alice', 'alice-demo');
  cookie = alice.cookie('localhost', SESSION_COOKIE)!;
  expect(cookie).toBeTruthy();
}, 60_000);
afterAll(async () => {
  observeRuns(undefined);
  await gate?.close();
});

/** Alice's browser session, on the metrics-enabled app (same database and sessions as the gate). */
const asAlice = (path: string, init: { method?: string; body?: unknown } = {}) =>
  app.request(`${gate.url}${path}`, {
    method: init.method ?? 'GET',
    headers: { cookie: `${SESSION_COOKIE}=${cookie}`, origin: gate.url, 'content-type': 'application/json', accept: 'application/json' },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });

async function scrape(): Promise<Scrape> {
  const res = await app.request(`${gate.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

describe('GET /metrics', () => {
  test('refuses callers without the scraper token: anonymous, a wrong token, a signed-in person; and everyone when no token is configured', async () => {
    const anonymous = await app.request(`${gate.url}/metrics`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: { code: 'unauthenticated', message: expect.stringContaining('METRICS_TOKEN') } });
    expect((await app.request(`${gate.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
    expect((await app.request(`${gate.url}/metrics`, { headers: { authorization: TOKEN } })).status).toBe(401);
    expect((await asAlice('/metrics')).status).toBe(401);
    // The test gate itself has no token configured: nobody gets in, whatever they send.
    expect((await fetch(`${gate.url}/metrics`, { headers: { authorization: 'Bearer ' } })).status).toBe(401);
    expect((await fetch(`${gate.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(401);
  });

  test('after a scripted flow every counter moved by what the flow did', { timeout: 60_000 }, async () => {
    const before = await scrape();
    const version = gate.policy.agreement.version;
    expect((await asAlice('/api/agreement', { method: 'POST', body: { version } })).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await asAlice('/api/me')).status).toBe(200);
    expect((await asAlice('/api/credentials', { method: 'POST', body: { ttlSeconds: 600 } })).status).toBe(201);
    const revoked = await asAlice('/api/credentials', { method: 'DELETE' });
    expect(revoked.status).toBe(200);
    const issued = await asAlice('/api/credentials', { method: 'POST', body: { ttlSeconds: 600 } });
    expect(issued.status).toBe(201);
    const { role } = (await issued.json()) as { role: string };
    expect((await asAlice('/api/credentials', { method: 'POST', body: { ttlSeconds: 'soon' } })).status).toBe(400);
    expect((await asAlice('/api/nothing-here')).status).toBe(404);
    const dataset = gate.policy.pii_datasets[0]!;
    const asked = await asAlice('/api/requests', {
      method: 'POST',
      body: { datasets: [dataset.name], purpose: 'x'.repeat(dataset.min_purpose_length) + ' for the metrics test', durationSeconds: 3600 },
    });
    expect(asked.status).toBe(201);
    // The second credential came due five minutes ago: the sweeper ends it, late.
    await withClient(gate.controlAdminUrl, (a) => a.query(`UPDATE credentials SET expires_at = now() - interval '5 minutes' WHERE role_name = $1 AND revoked_at IS NULL`, [role]));
    const mid = await scrape();
    expect(sample(mid, 'fdwg_sweep_lag_seconds', { sweeper: 'leases' })).toBeGreaterThanOrEqual(299);
    expect(sample(mid, 'fdwg_credentials_live') - sample(before, 'fdwg_credentials_live')).toBe(0);

    observeRuns((job, outcome, s) => metrics.observeRun(job, outcome, s));
    const logger = createLogger('error', () => {});
    await startSweeping(gate.services, logger, 3_600_000)();
    await startReconciling(gate.services.reconciler, logger, 3_600_000, (r) => metrics.observeReconcile(r))();
    observeRuns(undefined);

    const after = await scrape();
    const moved = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);
    const http = (method: string, route: string, status: string) => moved('fdwg_http_requests_total', { method, route, status });
    expect(http('GET', '/api/me', '200')).toBe(3);
    expect(moved('fdwg_http_request_duration_seconds_count', { method: 'GET', route: '/api/me', status: '200' })).toBe(3);
    expect(http('POST', '/api/credentials', '201')).toBe(2);
    expect(http('POST', '/api/credentials', '400')).toBe(1);
    expect(http('DELETE', '/api/credentials', '200')).toBe(1);
    expect(http('POST', '/api/agreement', '200')).toBe(1);
    expect(http('POST', '/api/requests', '201')).toBe(1);
    // A path that matches no route is counted under the catch-all pattern, never under its own path.
    expect([...after.keys()].some((k) => k.includes('nothing-here'))).toBe(false);
    expect(moved('fdwg_credentials_issued_total')).toBe(2);
    expect(moved('fdwg_credentials_revoked_total')).toBe(1);
    expect(moved('fdwg_credentials_expired_total')).toBe(1);
    expect(moved('fdwg_late_expiries_total', { action: 'credential.expired' })).toBe(1);
    expect(moved('fdwg_audit_events_total', { action: 'credential.issued' })).toBe(2);
    expect(moved('fdwg_audit_events_total', { action: 'agreement.accepted' })).toBe(1);
    expect(sample(after, 'fdwg_credentials_live')).toBe(0);
    expect(sample(after, 'fdwg_sweep_lag_seconds', { sweeper: 'leases' })).toBe(0);
    expect(moved('fdwg_pii_requests', { state: 'pending' })).toBe(1);
    expect(sample(after, 'fdwg_pii_grants_live')).toBe(0);
    expect(sample(after, 'fdwg_audit_chain_head_id')).toBeGreaterThan(sample(before, 'fdwg_audit_chain_head_id'));
    expect(moved('fdwg_background_runs_total', { job: 'sweep', outcome: 'ok' })).toBe(1);
    expect(moved('fdwg_background_runs_total', { job: 'reconcile', outcome: 'ok' })).toBe(1);
    expect(moved('fdwg_reconcile_runs_total', { result: 'ran' })).toBe(1);
    expect(sample(after, 'fdwg_background_last_success_timestamp_seconds', { job: 'sweep' })).toBeGreaterThan(Date.now() / 1000 - 60);
  });
});
