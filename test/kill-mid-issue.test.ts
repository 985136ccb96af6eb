// Issue 10: no credential is left half-done. The Node gate (a real process) is SIGKILLed in the
// window CredentialService.issue leaves open on purpose: the warehouse ALTER ROLE ... LOGIN has
// committed, the control transaction (lease row and credential.issued event) has not. The window is
// held open deterministically: this test holds the audit chain lock that audit_append takes
// (migrations/0004_audit_append.sql, key in src/audit/dal.ts), so the control transaction waits
// inside audit_append while the warehouse change, which runs beside it, lands. Then the kill: the
// control transaction rolls back, the LOGIN stays, and the reconciler's scheduled run must close it.
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type TestGate, startTestGate } from './support/gate.js';
import { admittedHeaders, startGateProcess } from './support/gate-process.js';
import { withClient } from './support/pg.js';
import { CHAIN_LOCK } from '../src/audit/dal.js';
import { RECONCILE_LOCK, ROLE_CHANGE_LOCK } from '../src/db/role-change-lock.js';


let gate: TestGate;
let child: ChildProcess | undefined;

beforeAll(async () => {
  gate = await startTestGate({ demoMessages: 200 });
}, 60_000);
afterAll(async () => {
  if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await gate?.close();
});

const control = <T>(fn: (c: pg.Client) => Promise<T>) => withClient(gate.controlAdminUrl, fn);
const warehouseRole = (role: string) =>
  withClient(gate.warehouseAdminUrl, async (c) => {
    const { rows } = await c.query(`SELECT rolcanlogin AS login, rolvaliduntil > now() AS valid FROM pg_roles WHERE rolname = $1`, [role]);
    return (rows[0] as { login: boolean; valid: boolean | null } | undefined) ?? null;
  });
const leasesOf = (analystId: number) =>
  control(async (c) => (await c.query(`SELECT count(*)::int AS n FROM credentials WHERE analyst_id = $1`, [analystId])).rows[0].n as number);
const eventsAbout = (action: string, subject: string) =>
  control(async (c) => (await c.query(`SELECT details FROM audit_events WHERE action = $1 AND subject = $2 ORDER BY id`, [action, subject])).rows.map((r) => r.details));

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms = 10_000): Promise<T> {
  for (const deadline = Date.now() + ms; ; ) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('SIGKILL after the warehouse LOGIN, before the control commit: no lease, no event, no password; the reconciler closes the LOGIN and audits it', { timeout: 60_000 }, async () => {
  // No scheduled reconcile in the gate process during the test: only the run below may repair.
  const proc = await startGateProcess(gate, { RECONCILE_INTERVAL_SECONDS: '86400' });
  child = proc.child;
  const headers = await admittedHeaders(gate, proc.url, 'alice', 'alice-demo');
  const alice = await control(async (c) => (await c.query(`SELECT id, role_name AS role FROM analysts WHERE username = 'alice'`)).rows[0] as { id: number; role: string });
  expect(await leasesOf(alice.id)).toBe(0);
  expect((await warehouseRole(alice.role))?.login ?? false).toBe(false);

  const holder = new pg.Client({ connectionString: gate.controlAdminUrl });
  await holder.connect();
  try {
    // The reconcile lock first: it waits out the gate process's start-up run, which would otherwise
    // hold the role-change lock and keep the issue from reaching the window.
    await holder.query('SELECT pg_advisory_lock($1)', [RECONCILE_LOCK]);
    await holder.query('SELECT pg_advisory_lock($1)', [CHAIN_LOCK]);

    let settled = false;
    const issue = fetch(`${proc.url}/api/credentials`, { method: 'POST', headers, body: JSON.stringify({ ttlSeconds: 600 }) }).then(
      async (res) => ({ status: res.status, body: await res.text() }),
      (err: Error & { cause?: { code?: string } }) => err,
    );
    void issue.finally(() => (settled = true));

    // The issue's control transaction: holding the role-change lock shared, waiting in audit_append.
    const gatePid = await until('the issue to wait on the audit chain lock', async () => {
      const { rows } = await holder.query(
        `SELECT w.pid FROM pg_locks w
           JOIN pg_locks h ON h.pid = w.pid AND h.locktype = 'advisory' AND h.objid = $2 AND h.mode = 'ShareLock' AND h.granted
           JOIN pg_stat_activity a ON a.pid = w.pid AND a.wait_event_type = 'Lock' AND a.wait_event = 'advisory' AND a.state = 'active'
                                   AND a.query LIKE '%audit_append(%'
          WHERE w.locktype = 'advisory' AND w.objid = $1 AND NOT w.granted`,
        [CHAIN_LOCK, ROLE_CHANGE_LOCK],
      );
      return rows[0]?.pid as number | undefined;
    });
    // Meanwhile the warehouse change lands: LOGIN, valid for the lease's lifetime.
    await until('the warehouse LOGIN', async () => {
      const r = await warehouseRole(alice.role);
      return r?.login && r.valid;
    });
    expect(settled, 'the request finished while its transaction was held').toBe(false);
    expect(await leasesOf(alice.id)).toBe(0);
    expect(await eventsAbout('credential.issued', 'alice')).toEqual([]);

    child.kill('SIGKILL');
    await proc.exited;
    expect(child.signalCode).toBe('SIGKILL');
    // The password never reached the analyst: the connection died under her request.
    const outcome = await issue;
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error & { cause?: { code?: string } }).cause?.code).toBe('UND_ERR_SOCKET');

    await holder.query('SELECT pg_advisory_unlock($1)', [CHAIN_LOCK]);
    await holder.query('SELECT pg_advisory_unlock($1)', [RECONCILE_LOCK]);
    // Its backend goes on to find the client gone at the next read, and rolls back.
    await until('the killed gate\'s backend to end', async () => (await holder.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [gatePid])).rowCount === 0);
  } finally {
    await holder.end();
  }

  // Half-done: the control side rolled back, the warehouse side did not.
  expect(await leasesOf(alice.id)).toBe(0);
  expect(await eventsAbout('credential.issued', 'alice')).toEqual([]);
  expect(await warehouseRole(alice.role)).toEqual({ login: true, valid: true });

  // The scheduled run, as the gate runs it (src/node/reconciling.ts).
  const run = await gate.services.reconciler.runScheduled();
  expect(run.skipped).toBeUndefined();
  expect((await warehouseRole(alice.role))?.login).toBe(false);
  expect(await eventsAbout('drift.found', 'alice')).toEqual([
    expect.objectContaining({ role: alice.role, drift: 'login_without_credential', kind: 'drift', repaired: true }),
  ]);
});
