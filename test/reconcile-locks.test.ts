// The reconciler's locks are out of analysts' reach (issue 10, finding 2). An analyst login holds
// every advisory lock key it can compute or see (the old `hashtext('fdwg-access-gate:reconcile:
// <prefix>')` key in the warehouse, and every key pg_locks shows while a reconciler runs) and the
// reconciler still runs and repairs a planted drift. When the lock really is held (by another
// reconciler), scheduled runs skip with a warning and an audited alert, and a DBA run waits a
// bounded time and names the holder instead of hanging.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { controlDb, createPool } from '../src/db/client.js';
import { holdRoleChangeLock } from '../src/db/role-change-lock.js';
import { createLogger } from '../src/log.js';
import { startReconciling } from '../src/node/reconciling.js';
import { reconcile, type ReconcileOptions } from '../src/reconcile/apply.js';
import { Reconciler } from '../src/reconcile/service.js';
import { type TestGate, analystClient, startTestGate } from './support/gate.js';
import { seedAnalyst } from './support/seed.js';
import { uniqueSuffix, withClient } from './support/pg.js';

let gate: TestGate;
let dbaPool: pg.Pool;
const deps = () => ({ policy: gate.policy, prefix: gate.prefix, warehouse: gate.warehousePool, control: gate.controlPool });
const asDba = (opts: ReconcileOptions = {}) =>
  reconcile({ policy: gate.policy, prefix: gate.prefix, warehouse: dbaPool, control: gate.controlPool }, opts);
const wh = <T>(fn: (c: pg.Client) => Promise<T>) => withClient(gate.warehouseAdminUrl, fn);
const canLogin = (role: string) => wh(async (c) => (await c.query(`SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, [role])).rows[0]?.rolcanlogin);
const auditOf = (action: string) =>
  withClient(gate.controlAdminUrl, async (c) => (await c.query(`SELECT * FROM audit_events WHERE action = $1 ORDER BY id`, [action])).rows);

/** Fails instead of hanging: the probe saw runs that never returned. */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}

const analyst = (name: string, password?: string) => seedAnalyst(gate, name, password);

/** A gate change in flight: holds the role-change lock shared until `release` (as issue() does). */
async function changeInFlight() {
  const c = await gate.controlPool.connect();
  await c.query('BEGIN');
  await holdRoleChangeLock(controlDb(c as unknown as pg.Pool));
  return async () => {
    await c.query('ROLLBACK').catch(() => {});
    c.release();
  };
}

/** Until some session of the control database waits on an advisory lock (a reconciler queued behind a change). */
async function untilWaitingOnAdvisoryLock() {
  for (let i = 0; i < 100; i++) {
    const n = await withClient(gate.controlAdminUrl, async (c) =>
      (await c.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)).rows[0].n,
    );
    if (n > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no reconciler ever waited on the role-change lock');
}

beforeAll(async () => {
  gate = await startTestGate({ demoMessages: 200 });
  dbaPool = createPool(gate.warehouseAdminUrl, 4);
});
afterAll(async () => {
  await dbaPool?.end();
  await gate?.close();
});

describe('an analyst cannot stop the reconciler', () => {
  test('holding every lock key it can compute or see, the scheduled run and a DBA run still repair a planted drift', async () => {
    const password = `alice-${uniqueSuffix()}-${uniqueSuffix()}`;
    const alice = await analyst(`alice${uniqueSuffix()}`, password);
    const bob = await analyst(`bob${uniqueSuffix()}`);
    const session = analystClient(gate, alice.role, password);
    session.on('error', () => {});
    await session.connect();
    try {
      await session.query('SET statement_timeout = 0');
      // The probe's key, in the warehouse, where every analyst can connect.
      await session.query(`SELECT pg_advisory_lock(hashtext($1))`, [`fdwg-access-gate:reconcile:${gate.prefix}`]);
      // Every advisory key pg_locks shows while a reconciler runs (it waits behind an in-flight
      // gate change here, so its locks stay visible), taken in the one database alice reaches.
      const release = await changeInFlight();
      const paused = asDba({ apply: true });
      await untilWaitingOnAdvisoryLock().catch(() => {}); // before the fix the run waits in the warehouse instead
      const keys = (await session.query(`SELECT DISTINCT classid::bigint AS hi, objid::bigint AS lo, objsubid FROM pg_locks WHERE locktype = 'advisory'`)).rows;
      expect(keys.length).toBeGreaterThan(0);
      for (const k of keys) {
        const taken = k.objsubid === 1
          ? await session.query(`SELECT pg_try_advisory_lock(($1::bigint << 32) | $2::bigint) AS ok`, [k.hi, k.lo])
          : await session.query(`SELECT pg_try_advisory_lock($1::int, $2::int) AS ok`, [Number(k.hi) | 0, Number(k.lo) | 0]);
        expect(taken.rows[0].ok).toBe(true); // nobody else holds a key in the warehouse
      }
      await release();
      await within(10_000, paused, 'the reconciler run queued behind the in-flight change');

      // The planted drift: a superuser gives bob LOGIN without any credential.
      await wh((c) => c.query(`ALTER ROLE "${bob.role}" LOGIN`));
      const scheduled = await within(10_000, new Reconciler(deps()).runScheduled(), 'the scheduled run');
      expect(scheduled.skipped).toBeUndefined();
      expect(scheduled.applied.map((s) => s.subject)).toContain(bob.name);
      expect(await canLogin(bob.role)).toBe(false);
      expect((await auditOf('drift.found')).filter((e) => e.subject === bob.name).at(-1).details).toMatchObject({ drift: 'login_without_credential', repaired: true });

      await wh((c) => c.query(`ALTER ROLE "${bob.role}" LOGIN`));
      const byDba = await within(10_000, asDba({ apply: true, lockWaitMs: 5_000 }), 'the DBA run');
      expect(byDba.applied.map((s) => s.subject)).toContain(bob.name);
      expect(await canLogin(bob.role)).toBe(false);
      // alice still holds every key she took: her session is alive and never got in the way.
      expect((await session.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()`)).rows[0].n).toBeGreaterThan(1);
    } finally {
      await session.end().catch(() => {});
    }
  });

  test('the locks live where analysts cannot connect: the control database refuses an analyst login', async () => {
    const password = `carol-${uniqueSuffix()}-${uniqueSuffix()}`;
    const carol = await analyst(`carol${uniqueSuffix()}`, password);
    const control = new URL(gate.controlAdminUrl).pathname.slice(1);
    const c = new pg.Client({ ...gate.config.analystDb, database: control, user: carol.role, password });
    await expect(c.connect()).rejects.toThrow(/permission denied for database/);
  });
});

describe('when another reconciler really holds the lock', () => {
  test('scheduled runs skip with a warning and the third in a row is an audited alert; a DBA run waits a bounded time and names the holder', async () => {
    const release = await changeInFlight();
    const holder = asDba({ apply: true, actor: 'test:holder' });
    holder.catch(() => {});
    try {
      await untilWaitingOnAdvisoryLock();
      const lines: string[] = [];
      const logger = createLogger('debug', (l) => lines.push(l));
      const stop = startReconciling(new Reconciler(deps()), logger, 100);
      try {
        for (let i = 0; i < 100 && (await auditOf('reconcile.skipped')).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      } finally {
        await stop();
      }
      const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 'warn' && /reconcile skipped/.test(l.msg));
      expect(warnings.length).toBeGreaterThanOrEqual(3);
      const alerts = await auditOf('reconcile.skipped');
      expect(alerts.length).toBeGreaterThanOrEqual(1); // the next one would come at 6 in a row
      expect(alerts[0]).toMatchObject({ actor: 'system:reconciler', details: { consecutive: 3 } });
      expect(alerts[0].details.holders[0]).toMatchObject({ pid: expect.any(Number), user: gate.roles.gate });

      const started = Date.now();
      const err = await within(10_000, asDba({ apply: true, lockWaitMs: 500 }).then(() => null, (e: Error) => e), 'the bounded DBA run');
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(err?.message).toMatch(/waited 0\.5 s for the reconciler's lock/);
      expect(err?.message).toMatch(new RegExp(`held by pid \\d+ \\(user ${gate.roles.gate}, application "[^"]*test:holder[^"]*"\\)`));
    } finally {
      await release();
      await holder.catch(() => {});
    }
    // Once the holder is done, a scheduled run goes through again.
    expect((await new Reconciler(deps()).runScheduled()).skipped).toBeUndefined();
  });
});

describe('npm run reconcile -- --apply', () => {
  const cli = async (args: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)('npx', ['tsx', 'src/node/reconcile.ts', '--url', gate.warehouseAdminUrl, '--control-url', gate.controlAdminUrl, '--prefix', gate.prefix, ...args], { timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string; killed?: boolean };
      return { code: e.killed ? 'killed' : e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  test('does not hang while an analyst holds the old lock key; with --lock-wait it fails naming the holder of the real lock', async () => {
    const password = `dave-${uniqueSuffix()}-${uniqueSuffix()}`;
    const dave = await analyst(`dave${uniqueSuffix()}`, password);
    const bob = await analyst(`bob${uniqueSuffix()}`);
    const session = analystClient(gate, dave.role, password);
    session.on('error', () => {});
    await session.connect();
    try {
      await session.query('SET statement_timeout = 0');
      await session.query(`SELECT pg_advisory_lock(hashtext($1))`, [`fdwg-access-gate:reconcile:${gate.prefix}`]);
      await wh((c) => c.query(`ALTER ROLE "${bob.role}" LOGIN`));
      const r = await cli(['--apply']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Applied');
      expect(await canLogin(bob.role)).toBe(false);
    } finally {
      await session.end().catch(() => {});
    }

    const release = await changeInFlight();
    const holder = asDba({ apply: true, actor: 'test:cli-holder' });
    holder.catch(() => {});
    try {
      await untilWaitingOnAdvisoryLock();
      const r = await cli(['--apply', '--lock-wait', '1']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/reconcile failed: waited 1 s for the reconciler's lock; held by pid \d+/);
      expect(r.stderr).toContain('test:cli-holder');
    } finally {
      await release();
      await holder.catch(() => {});
    }
  }, 120_000);
});
