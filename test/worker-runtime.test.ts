// The same app on the Cloudflare Workers runtime: `wrangler dev` runs src/worker.ts in workerd
// (the real Workers runtime, locally) with wrangler.toml's Hyperdrive bindings pointed at this
// run's PostgreSQL (wrangler's local Hyperdrive: a proxy behind the binding's connection string)
// and the dev issuer. No database URL variable is given: the Worker finds its databases through
// the bindings or not at all. An analyst signs in, accepts the agreement, gets a password that
// logs in, and the cron trigger (the sweeper) ends an expired credential; /metrics answers what
// the database knows to the scraper's token only.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { freePort } from '../src/dev/net.js';
import { type TestGate, analystClient, startTestGate } from './support/gate.js';
import { HttpSession, signIn } from './support/http-session.js';
import { withClient } from './support/pg.js';

let gate: TestGate;
let worker: ChildProcess;
let workerUrl: string;
let output = '';
const METRICS_TOKEN = 'metrics-token-for-the-worker-test-0123456789';

beforeAll(async () => {
  const port = await freePort();
  workerUrl = `http://localhost:${port}`;
  gate = await startTestGate({ alsoServedAt: [workerUrl] });
  const vars: Record<string, string> = {
    METRICS_TOKEN,
    OIDC_ISSUER: gate.config.oidc.issuer,
    OIDC_CLIENT_ID: gate.config.oidc.clientId,
    OIDC_CLIENT_SECRET: gate.config.oidc.clientSecret,
    SESSION_SECRET: gate.config.sessionSecret,
    PUBLIC_URL: workerUrl,
    ROLE_PREFIX: gate.prefix,
    ANALYST_DB_HOST: gate.config.analystDb.host,
    ANALYST_DB_PORT: String(gate.config.analystDb.port),
  };
  worker = spawn(
    'npx',
    ['wrangler', 'dev', '--port', String(port), '--ip', '127.0.0.1', '--test-scheduled', '--show-interactive-dev-session=false',
      ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`])],
    {
      env: {
        ...process.env,
        WRANGLER_SEND_METRICS: 'false',
        CI: '1',
        CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE_CONTROL: gate.controlUrl,
        CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE_WAREHOUSE: gate.warehouseUrl,
      },
      stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  worker.stdout!.on('data', (d) => (output += d));
  worker.stderr!.on('data', (d) => (output += d));
  const until = Date.now() + 90_000;
  for (;;) {
    const ok = await fetch(`${workerUrl}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (worker.exitCode !== null || Date.now() > until) throw new Error(`wrangler dev did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}, 120_000);

afterAll(async () => {
  // wrangler starts workerd as a child: end the whole process group.
  if (worker?.pid && worker.exitCode === null) process.kill(-worker.pid, 'SIGTERM');
  await gate?.close();
});

test('on workerd: healthz reaches both databases through the Hyperdrive bindings', async () => {
  const res = await fetch(`${workerUrl}/healthz`);
  expect(await res.json()).toMatchObject({ status: 'ready', checks: { control: { ok: true }, warehouse: { ok: true } } });
});

test('on workerd: sign in, accept, get a password that logs in; the cron sweeper ends it when it expires', { timeout: 90_000 }, async () => {
  const alice = new HttpSession();
  const landed = await signIn(alice, workerUrl, 'alice', 'alice-demo');
  expect(landed.url.origin).toBe(new URL(workerUrl).origin);
  const json = (body: unknown) => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: workerUrl },
    body: JSON.stringify(body),
  });
  const accepted = await alice.request(`${workerUrl}/api/agreement`, json({ version: gate.policy.agreement.version }));
  expect(accepted.status, output).toBe(200);
  const res = await alice.request(`${workerUrl}/api/credentials`, json({ ttlSeconds: 60 }));
  expect(res.status).toBe(201);
  const issued = (await res.json()) as { role: string; password: string };
  const c = analystClient(gate, issued.role, issued.password);
  await c.connect();
  const { rows } = await c.query('SELECT count(*)::int AS n FROM pseudonymized.messages');
  expect(rows[0].n).toBeGreaterThan(0);

  // Make the lease due, then fire the Worker's cron trigger as Cloudflare would.
  await withClient(gate.controlAdminUrl, (a) => a.query(`UPDATE credentials SET expires_at = now() - interval '1 second' WHERE role_name = $1`, [issued.role]));
  const ended = new Promise<void>((resolve) => c.on('error', () => resolve()));
  expect((await fetch(`${workerUrl}/__scheduled?cron=*+*+*+*+*`)).status).toBe(200);
  await ended;
  await c.end().catch(() => {});
  const { rows: role } = await withClient(gate.warehouseAdminUrl, (a) => a.query('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [issued.role]));
  expect(role[0].rolcanlogin).toBe(false);
  const { rows: events } = await withClient(gate.controlAdminUrl, (a) =>
    a.query(`SELECT actor, subject FROM audit_events WHERE action = 'credential.expired'`),
  );
  expect(events).toEqual([{ actor: 'system:sweeper', subject: 'alice' }]);
});

test('on workerd: the Worker reached both databases through the Hyperdrive bindings, not its own URLs', () => {
  expect(output).toMatch(/CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE_CONTROL/);
  expect(output).toMatch(/CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE_WAREHOUSE/);
});

test('on workerd: /metrics refuses callers without the scraper token and shows what the database answers', async () => {
  expect((await fetch(`${workerUrl}/metrics`)).status).toBe(401);
  expect((await fetch(`${workerUrl}/metrics`, { headers: { authorization: 'Bearer not-the-token' } })).status).toBe(401);
  const res = await fetch(`${workerUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
  const text = await res.text();
  // After the flow above: one password issued and expired by the cron sweeper, none live.
  expect(text).toMatch(/^fdwg_credentials_issued_total 1$/m);
  expect(text).toMatch(/^fdwg_credentials_expired_total 1$/m);
  expect(text).toMatch(/^fdwg_credentials_live 0$/m);
  expect(text).toMatch(/^fdwg_audit_chain_head_id [1-9]\d*$/m);
  // An isolate keeps no HTTP counters worth scraping: those are Node's.
  expect(text).not.toMatch(/fdwg_http_requests_total/);
});
