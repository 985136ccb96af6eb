// Graceful stop of the Node gate (src/node/main.ts as a process, against this run's databases):
// SIGTERM while a credential issue is in flight lets it finish (the analyst gets the password the
// warehouse now has), then the process exits 0. The issue is held in flight deterministically:
// this test holds the role-change lock the issue must take (src/db/role-change-lock.ts).
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type TestGate, startTestGate } from './support/gate.js';
import { admittedHeaders, startGateProcess } from './support/gate-process.js';
import { withClient } from './support/pg.js';
import { ROLE_CHANGE_LOCK } from '../src/db/role-change-lock.js';

let gate: TestGate;
let child: ChildProcess | undefined;

beforeAll(async () => {
  gate = await startTestGate({ demoMessages: 200 });
}, 60_000);
afterAll(async () => {
  if (child?.exitCode === null) child.kill('SIGKILL');
  await gate?.close();
});

test('SIGTERM during a credential issue: the issue finishes (201, the password logs in), then the gate exits 0', { timeout: 60_000 }, async () => {
  const proc = await startGateProcess(gate, { SHUTDOWN_GRACE_SECONDS: '30' });
  child = proc.child;
  const { url, exited, output } = proc;
  expect((await fetch(`${url}/healthz/live`)).status).toBe(200);

  // Alice signs in on the test gate: the same control database, so her session works here too.
  const headers = await admittedHeaders(gate, url, 'alice', 'alice-demo');

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
    expect(output()).toMatch(/Stopping \(SIGTERM\)/);
    await holder.query('SELECT pg_advisory_unlock($1)', [ROLE_CHANGE_LOCK]);
    const res = await issue;
    expect(res.status).toBe(201);
    const issued = (await res.json()) as { role: string; password: string };
    expect(await exited, output()).toBe(0);
    expect(output()).toMatch(/Stopped after \d+ ms/);
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
