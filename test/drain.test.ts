// Graceful stop of the Node gate (src/node/main.ts as a process, against this run's databases):
// SIGTERM while a credential issue is in flight lets it finish (the analyst gets the password the
// warehouse now has), then the process exits 0. The issue is held in flight deterministically:
// this test holds the role-change lock the issue must take (src/db/role-change-lock.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { SESSION_COOKIE } from '../src/auth/oidc.js';
import { freePort } from '../src/dev/net.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { HttpSession, signIn } from './support/http-session.js';
import { withClient } from './support/pg.js';

const ROLE_CHANGE_LOCK = 0x46445752;
let gate: TestGate;
let child: ChildProcess | undefined;
let output = '';

beforeAll(async () => {
  gate = await startTestGate({ demoMessages: 200 });
}, 60_000);
afterAll(async () => {
  if (child?.exitCode === null) child.kill('SIGKILL');
  await gate?.close();
});

test('SIGTERM during a credential issue: the issue finishes (201, the password logs in), then the gate exits 0', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const url = `http://localhost:${port}`;
  child = spawn(process.execPath, ['--import', 'tsx', 'src/node/main.ts'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      PUBLIC_URL: url,
      CONTROL_DATABASE_URL: gate.controlUrl,
      WAREHOUSE_DATABASE_URL: gate.warehouseUrl,
      OIDC_ISSUER: gate.config.oidc.issuer,
      OIDC_CLIENT_ID: gate.config.oidc.clientId,
      OIDC_CLIENT_SECRET: gate.config.oidc.clientSecret,
      SESSION_SECRET: gate.config.sessionSecret,
      ROLE_PREFIX: gate.prefix,
      ANALYST_DB_HOST: gate.config.analystDb.host,
      ANALYST_DB_PORT: String(gate.config.analystDb.port),
      SHUTDOWN_GRACE_SECONDS: '30',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
  for (const until = Date.now() + 30_000; ; ) {
    if ((await fetch(`${url}/healthz/ready`).then((r) => r.status, () => 0)) === 200) break;
    if (child.exitCode !== null || Date.now() > until) throw new Error(`the gate did not become ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  expect((await fetch(`${url}/healthz/live`)).status).toBe(200);

  // Alice signs in on the test gate: the same control database, so her session works here too.
  const alice = new HttpSession();
  await signIn(alice, gate.url, 'alice', 'alice-demo');
  const headers = { cookie: `${SESSION_COOKIE}=${alice.cookie('localhost', SESSION_COOKIE)}`, origin: url, 'content-type': 'application/json' };
  const accepted = await fetch(`${url}/api/agreement`, { method: 'POST', headers, body: JSON.stringify({ version: gate.policy.agreement.version }) });
  expect(accepted.status, output).toBe(200);

  const holder = new pg.Client({ connectionString: gate.controlAdminUrl });
  await holder.connect();
  try {
    await holder.query('SELECT pg_advisory_lock($1)', [ROLE_CHANGE_LOCK]);
    const issue = fetch(`${url}/api/credentials`, { method: 'POST', headers, body: JSON.stringify({ ttlSeconds: 600 }) });
    // In flight: its transaction waits for the lock this test holds.
    for (const until = Date.now() + 10_000; ; ) {
      const { rows } = await holder.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted`, [ROLE_CHANGE_LOCK]);
      if (rows[0].n > 0) break;
      if (Date.now() > until) throw new Error('the credential issue never reached the lock');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 700));
    expect(child.exitCode, 'the gate left before its request in flight finished').toBeNull();
    expect(output).toMatch(/Stopping \(SIGTERM\)/);
    await holder.query('SELECT pg_advisory_unlock($1)', [ROLE_CHANGE_LOCK]);
    const res = await issue;
    expect(res.status).toBe(201);
    const issued = (await res.json()) as { role: string; password: string };
    expect(await exited, output).toBe(0);
    expect(output).toMatch(/Stopped after \d+ ms/);
    // The password the gate answered is the one the warehouse has.
    const { host, port: pgPort, database } = gate.config.analystDb;
    const analyst = new pg.Client({ host, port: pgPort, database, user: issued.role, password: issued.password });
    await analyst.connect();
    await analyst.end();
    const { rows } = await withClient(gate.controlAdminUrl, (a) => a.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'credential.issued' AND subject = 'alice'`));
    expect(rows[0].n).toBe(1);
  } finally {
    await holder.end();
  }
});
