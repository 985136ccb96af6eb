// Issue 10's role and lock fixes on Debian's PostgreSQL 15 (no GRANT ... WITH SET/INHERIT, CREATEROLE
// administers every non-superuser role): the bootstrap's password check works there, the gate
// itself undoes an analyst's own settings and password, an analyst reaches no database but the
// warehouse, and the old lock key an analyst can hold no longer stops a scheduled run.
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { urlWith } from '../src/node/databases.js';
import { loadPolicy } from '../src/policy/load.js';
import { Provisioner } from '../src/provisioner/provisioner.js';
import { scramSha256Verifier } from '../src/provisioner/scram.js';
import { reconcile } from '../src/reconcile/apply.js';
import { Reconciler } from '../src/reconcile/service.js';
import { type Pg15Gate, startPg15Gate } from './support/debian-pg.js';
import { uniqueSuffix, withClient } from './support/pg.js';

const prefix = `s15${uniqueSuffix()}_`;
const policy = loadPolicy(path.resolve('policies'));
let g: Pg15Gate;
let gatePool: pg.Pool;
let dbaPool: pg.Pool;
let controlPool: pg.Pool;
let warehouseAdminUrl: string;
let controlAdminUrl: string;

beforeAll(async () => {
  g = await startPg15Gate(prefix, policy);
  ({ gatePool, dbaPool, controlPool, warehouseAdminUrl, controlAdminUrl } = g);
});
afterAll(async () => {
  await g?.close();
});

const deps = () => ({ policy, prefix, warehouse: gatePool, control: controlPool });
const login = (role: string, password: string, database = 'warehouse') => {
  const c = new pg.Client({ connectionString: urlWith(g.cluster.superuserUrl, database, role, password) });
  c.on('error', () => {});
  return c.connect().then(() => c);
};
const settingsOf = (role: string) =>
  withClient(warehouseAdminUrl, async (c) =>
    (await c.query(`SELECT s.setdatabase, s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = $1 ORDER BY 1`, [role])).rows,
  );

test('PG15: an analyst reaches only the warehouse, cannot hold up a scheduled run, and her own settings and password are undone by the gate', async () => {
  const name = `alice${uniqueSuffix()}`;
  const role = `${prefix}${name}`;
  const password = `alice-${uniqueSuffix()}-${uniqueSuffix()}`;
  const id = await withClient(controlAdminUrl, async (c) =>
    (await c.query(`INSERT INTO analysts (username, subject, role_name) VALUES ($1, $1, $2) RETURNING id`, [name, role])).rows[0].id,
  );
  const provisioner = new Provisioner(gatePool, prefix, policy.credentials);
  await provisioner.ensureAnalystRole(role);
  const expiresAt = new Date(Date.now() + 3600_000);
  await provisioner.issue(role, { verifier: await scramSha256Verifier(password), validUntil: expiresAt });
  await withClient(controlAdminUrl, (c) => c.query(`INSERT INTO credentials (analyst_id, role_name, issued_at, expires_at) VALUES ($1, $2, now(), $3)`, [id, role, expiresAt]));
  const expected = await settingsOf(role);
  expect((await new Reconciler(deps()).runScheduled()).applied).toEqual([]); // records the gate's password

  for (const db of ['postgres', 'template1', 'control']) await expect(login(role, password, db), db).rejects.toThrow(/permission denied for database/);

  const s = await login(role, password);
  const ended = new Promise<void>((resolve) => s.on('end', () => resolve()));
  await s.query('SET statement_timeout = 0');
  await s.query(`SELECT pg_advisory_lock(hashtext($1))`, [`fdwg-access-gate:reconcile:${prefix}`]);
  await expect(s.query('BEGIN READ WRITE; CREATE TEMP TABLE t (x int)')).rejects.toThrow(/permission denied to create temporary tables/);
  await s.query('ROLLBACK');
  await s.query('BEGIN READ WRITE');
  await s.query(`ALTER ROLE "${role}" SET statement_timeout = 0`);
  await s.query(`ALTER ROLE "${role}" SET default_transaction_read_only = off`);
  await s.query(`ALTER ROLE "${role}" IN DATABASE warehouse SET work_mem = '1GB'`);
  await s.query(`ALTER ROLE "${role}" PASSWORD 'alice-chose-this-1'`);
  await s.query('COMMIT');
  await (await login(role, 'alice-chose-this-1')).end();

  const run = await new Reconciler(deps()).runScheduled();
  expect(run.skipped).toBeUndefined();
  expect(run.pending).toEqual([]);
  expect(run.applied.map((x) => x.details.drift ?? x.reason).sort()).toEqual(
    ['password_not_set_by_gate', 'role_setting', 'role_setting', 'role_setting', `end the sessions of ${role}`].sort(),
  );
  await ended; // her session (and the lock it held) is gone
  expect(await settingsOf(role)).toEqual(expected);
  await expect(login(role, 'alice-chose-this-1')).rejects.toThrow();
  await expect(login(role, password)).rejects.toThrow();
  const drift = await withClient(controlAdminUrl, async (c) => (await c.query(`SELECT details->>'drift' AS drift FROM audit_events WHERE action = 'drift.found' AND subject = $1`, [name])).rows);
  expect(drift.map((d) => d.drift).sort()).toEqual(['password_not_set_by_gate', 'role_setting', 'role_setting', 'role_setting']);
  expect((await reconcile({ policy, prefix, warehouse: dbaPool, control: controlPool })).steps.map((x) => x.sql)).toEqual([]);
});
