// What an analyst login can do to its own role and to the cluster (issue 10, findings 3-5), on
// embedded PostgreSQL 18. PostgreSQL lets any login `ALTER ROLE <itself> SET ...` and `... PASSWORD`
// in a read-write transaction: the reconciler undoes both and audits them. The bootstrap leaves
// analysts no database but the warehouse and no TEMP anywhere. A LOGIN left without a live lease
// (a gate killed between its warehouse change and its control commit) is closed by the scheduled run.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { controlDb, createPool } from '../src/db/client.js';
import { holdRoleChangeLock } from '../src/db/role-change-lock.js';
import { reconcile, type ReconcileOptions } from '../src/reconcile/apply.js';
import { Reconciler } from '../src/reconcile/service.js';
import { scramSha256Verifier } from '../src/provisioner/scram.js';
import { type TestGate, analystClient, startTestGate } from './support/gate.js';
import { seedAnalyst } from './support/seed.js';
import { uniqueSuffix, withClient } from './support/pg.js';

let gate: TestGate;
let dbaPool: pg.Pool;
const deps = () => ({ policy: gate.policy, prefix: gate.prefix, warehouse: gate.warehousePool, control: gate.controlPool });
const asDba = (opts: ReconcileOptions = {}) =>
  reconcile({ policy: gate.policy, prefix: gate.prefix, warehouse: dbaPool, control: gate.controlPool }, opts);
const asGate = (opts: ReconcileOptions = {}) => reconcile(deps(), opts);
const scheduled = () => new Reconciler(deps()).runScheduled();
const wh = <T>(fn: (c: pg.Client) => Promise<T>) => withClient(gate.warehouseAdminUrl, fn);
const sqlOf = (steps: { sql: string }[]) => steps.map((s) => s.sql);
const canLogin = (role: string) => wh(async (c) => (await c.query(`SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, [role])).rows[0]?.rolcanlogin);
const auditOf = (action: string) =>
  withClient(gate.controlAdminUrl, async (c) => (await c.query(`SELECT * FROM audit_events WHERE action = $1 ORDER BY id`, [action])).rows);
const privateSchema = () => `${gate.prefix}gate_private`;

/** Per-role settings as pg_db_role_setting holds them: `<database or *>: k=v, ...`, sorted. */
const settingsOf = (role: string) =>
  wh(async (c) =>
    (
      await c.query(
        `SELECT COALESCE(d.datname, '*') AS db, s.setconfig FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase
          WHERE s.setrole = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1`,
        [role],
      )
    ).rows.map((r) => `${r.db}: ${[...r.setconfig].sort().join(', ')}`),
  );

const analyst = (name: string, password?: string) => seedAnalyst(gate, name, password);

async function session(role: string, password: string, database?: string) {
  const c = database ? new pg.Client({ ...gate.config.analystDb, database, user: role, password }) : analystClient(gate, role, password);
  c.on('error', () => {});
  await c.connect();
  return c;
}

beforeAll(async () => {
  gate = await startTestGate({ demoMessages: 200 });
  dbaPool = createPool(gate.warehouseAdminUrl, 4);
});
afterAll(async () => {
  await dbaPool?.end();
  await gate?.close();
});

describe('an analyst changing her own role', () => {
  test('settings she gave her role (for every database and for one) are undone by the scheduled run, each audited as drift', async () => {
    const password = `alice-${uniqueSuffix()}-${uniqueSuffix()}`;
    const alice = await analyst(`alice${uniqueSuffix()}`, password);
    const expected = await settingsOf(alice.role);
    expect(expected).toEqual([`*: default_transaction_read_only=on, statement_timeout=${gate.policy.credentials.statement_timeout}`]);
    const s = await session(alice.role, password);
    try {
      await s.query('BEGIN READ WRITE');
      await s.query(`ALTER ROLE "${alice.role}" SET statement_timeout = 0`);
      await s.query(`ALTER ROLE "${alice.role}" SET default_transaction_read_only = off`);
      await s.query(`ALTER ROLE "${alice.role}" SET search_path = 'pii, pseudonymized'`);
      await s.query(`ALTER ROLE "${alice.role}" IN DATABASE "${gate.config.analystDb.database}" SET work_mem = '1GB'`);
      await s.query('COMMIT');
    } finally {
      await s.end();
    }
    expect(await settingsOf(alice.role)).not.toEqual(expected);

    const run = await scheduled();
    expect(run.pending.filter((p) => p.subject === alice.name)).toEqual([]);
    expect(await settingsOf(alice.role)).toEqual(expected);
    const drift = (await auditOf('drift.found')).filter((e) => e.subject === alice.name);
    expect(drift.map((e) => e.details.drift)).toEqual(['role_setting', 'role_setting', 'role_setting', 'role_setting']);
    expect(drift.every((e) => e.details.repaired === true)).toBe(true);
    expect(drift.map((e) => e.details.setting).sort()).toEqual(['default_transaction_read_only', 'search_path', 'statement_timeout', 'work_mem']);
    // A new login gets the gate's defaults again.
    const again = await session(alice.role, password);
    try {
      expect((await again.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe(gate.policy.credentials.statement_timeout);
      expect((await again.query('SHOW default_transaction_read_only')).rows[0].default_transaction_read_only).toBe('on');
    } finally {
      await again.end();
    }
    expect(sqlOf((await asDba()).steps)).toEqual([]);
  });

  test('a password she chose herself ends: NOLOGIN, her sessions terminated, the lease revoked, audited; an untouched credential is left alone', async () => {
    const password = `alice-${uniqueSuffix()}-${uniqueSuffix()}`;
    const alice = await analyst(`alice${uniqueSuffix()}`, password);
    const other = `erin-${uniqueSuffix()}-${uniqueSuffix()}`;
    const erin = await analyst(`erin${uniqueSuffix()}`, other);
    // A run after the issue: the gate's password is known good (nothing to repair).
    expect((await scheduled()).applied.filter((s) => s.subject === alice.name || s.subject === erin.name)).toEqual([]);

    const s = await session(alice.role, password);
    await s.query('BEGIN READ WRITE');
    await s.query(`ALTER ROLE "${alice.role}" PASSWORD 'alice-chose-this-1'`);
    await s.query('COMMIT');
    const own = await session(alice.role, 'alice-chose-this-1'); // VALID UNTIL still holds: she is in
    const ended = new Promise<void>((resolve) => own.on('end', () => resolve()));

    const run = await scheduled();
    expect(run.applied.filter((x) => x.subject === alice.name).map((x) => x.details.drift ?? 'terminate')).toEqual(['password_not_set_by_gate', 'terminate']);
    expect(await canLogin(alice.role)).toBe(false);
    await ended;
    await expect(own.query('SELECT 1')).rejects.toThrow();
    await s.end().catch(() => {});
    await expect(session(alice.role, 'alice-chose-this-1')).rejects.toThrow();
    const drift = (await auditOf('drift.found')).filter((e) => e.subject === alice.name);
    expect(drift.map((e) => e.details.drift)).toContain('password_not_set_by_gate');
    const lease = await withClient(gate.controlAdminUrl, async (c) => (await c.query(`SELECT revoked_at, revoked_reason FROM credentials WHERE analyst_id = $1`, [alice.id])).rows);
    expect(lease).toEqual([{ revoked_at: expect.any(Date), revoked_reason: 'password changed outside the gate' }]);

    // erin's password is the gate's: nothing happened to her.
    expect(await canLogin(erin.role)).toBe(true);
    await (await session(erin.role, other)).end();
    expect((await auditOf('drift.found')).filter((e) => e.subject === erin.name)).toEqual([]);
    expect(sqlOf((await asDba()).steps)).toEqual([]);
  });

  test('the provisioner records the password it sets in the same transaction, so a change made before any run is caught too', async () => {
    const name = `ivy${uniqueSuffix()}`;
    const role = `${gate.prefix}${name}`;
    const password = `ivy-${uniqueSuffix()}-${uniqueSuffix()}`;
    const id = await withClient(gate.controlAdminUrl, async (c) =>
      (await c.query(`INSERT INTO analysts (username, subject, role_name) VALUES ($1, $1, $2) RETURNING id`, [name, role])).rows[0].id,
    );
    await gate.services.provisioner.ensureAnalystRole(role);
    const expiresAt = new Date(Date.now() + 3600_000);
    await gate.services.provisioner.issue(role, { verifier: await scramSha256Verifier(password), validUntil: expiresAt });
    const state = await wh(async (c) => (await c.query(`SELECT state FROM "${gate.prefix}gate_private".password_state() WHERE role = $1`, [role])).rows[0]?.state);
    expect(state).toBe('gate');
    await withClient(gate.controlAdminUrl, (a) => a.query(`INSERT INTO credentials (analyst_id, role_name, issued_at, expires_at) VALUES ($1, $2, now(), $3)`, [id, role, expiresAt]));
    const s = await session(role, password);
    await s.query('BEGIN READ WRITE');
    await s.query(`ALTER ROLE "${role}" PASSWORD 'ivy-chose-this-1'`);
    await s.query('COMMIT');
    await s.end();
    const run = await scheduled();
    expect(run.applied.filter((x) => x.subject === name).map((x) => x.details.drift ?? 'terminate')).toEqual(['password_not_set_by_gate', 'terminate']);
    expect(await canLogin(role)).toBe(false);
  });

  test('the password check is a SECURITY DEFINER function only the gate may run; it returns no verifier', async () => {
    const password = `frank-${uniqueSuffix()}-${uniqueSuffix()}`;
    const frank = await analyst(`frank${uniqueSuffix()}`, password);
    const fn = await wh(async (c) =>
      (
        await c.query(
          `SELECT p.prosecdef, pg_get_userbyid(p.proowner) AS owner, p.proconfig, p.proacl::text[] AS acl, pg_get_function_result(p.oid) AS result,
                  has_schema_privilege($2, n.oid, 'USAGE') AS analyst_usage
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = 'password_state'`,
          [privateSchema(), frank.role],
        )
      ).rows,
    );
    expect(fn).toHaveLength(1);
    expect(fn[0]).toMatchObject({ prosecdef: true, owner: 'postgres', proconfig: ['search_path=pg_catalog, pg_temp'], analyst_usage: false });
    expect(fn[0].acl.filter((a: string) => !a.startsWith('postgres=')).map((a: string) => a.split('/')[0])).toEqual([`${gate.roles.gate}=X`]);
    expect(fn[0].result).not.toMatch(/verifier|rolpassword/i);
    const s = await session(frank.role, password);
    try {
      await expect(s.query(`SELECT * FROM "${privateSchema()}".password_state()`)).rejects.toThrow(/permission denied/);
      await expect(s.query(`SELECT "${privateSchema()}".record_passwords(ARRAY['${frank.role}']::name[])`)).rejects.toThrow(/permission denied/);
    } finally {
      await s.end();
    }
    // What the gate sees: a state per role, never the verifier or a digest of it.
    const seen = (await gate.warehousePool.query(`SELECT * FROM "${privateSchema()}".password_state() WHERE role = $1`, [frank.role])).rows;
    expect(seen).toEqual([{ role: frank.role, state: expect.stringMatching(/^(gate|unrecorded)$/) }]);
  });

  test('without the check function (a bootstrap from before it) the gate reports a DBA step and keeps working; a DBA run installs it', async () => {
    await wh((c) => c.query(`DROP SCHEMA "${privateSchema()}" CASCADE`));
    try {
      const byGate = await asGate({ apply: true });
      expect(byGate.pending.some((p) => /password check/.test(p.reason))).toBe(true);
      expect(byGate.applied).toEqual([]);
    } finally {
      const byDba = await asDba({ apply: true });
      expect(byDba.applied.some((p) => /password check/.test(p.reason))).toBe(true);
    }
    expect(sqlOf((await asGate()).steps)).toEqual([]);
    expect(sqlOf((await asDba()).steps)).toEqual([]);
  });
});

describe('databases an analyst can reach', () => {
  test('an analyst login can connect to the warehouse only, and create a TEMP table nowhere', async () => {
    const password = `gina-${uniqueSuffix()}-${uniqueSuffix()}`;
    const gina = await analyst(`gina${uniqueSuffix()}`, password);
    const control = new URL(gate.controlAdminUrl).pathname.slice(1);
    for (const db of ['postgres', 'template1', control]) {
      await expect(session(gina.role, password, db), db).rejects.toThrow(/permission denied for database/);
    }
    const s = await session(gina.role, password);
    try {
      await s.query('BEGIN READ WRITE');
      await expect(s.query('CREATE TEMP TABLE scratch (x int)')).rejects.toThrow(/permission denied to create temporary tables/);
      await s.query('ROLLBACK');
    } finally {
      await s.end();
    }
    const reach = await withClient(gate.warehouseAdminUrl, async (c) =>
      (
        await c.query(
          `SELECT datname, has_database_privilege($1, oid, 'CONNECT') AS connect, has_database_privilege($1, oid, 'TEMP') AS temp
             FROM pg_database WHERE datname = ANY($2) ORDER BY datname`,
          [gina.role, ['postgres', 'template1', control, gate.config.analystDb.database]],
        )
      ).rows,
    );
    expect(reach).toEqual(
      [
        { datname: 'postgres', connect: false, temp: false },
        { datname: 'template1', connect: false, temp: false },
        { datname: control, connect: false, temp: false },
        { datname: gate.config.analystDb.database, connect: true, temp: false },
      ].sort((a, b) => (a.datname < b.datname ? -1 : 1)),
    );
  });
});

describe('a gate killed between its warehouse change and its control commit', () => {
  test('the LOGIN left without a live lease is closed by the scheduled run and audited', async () => {
    const hank = await analyst(`hank${uniqueSuffix()}`);
    // CredentialService.issue, killed after the warehouse change and before COMMIT.
    const c = await gate.controlPool.connect();
    c.on('error', () => {});
    await c.query('BEGIN');
    await holdRoleChangeLock(controlDb(c as unknown as pg.Pool));
    const validUntil = new Date(Date.now() + 8 * 3600_000);
    await gate.services.provisioner.issue(hank.role, { verifier: await scramSha256Verifier(`pw-${uniqueSuffix()}`), validUntil });
    const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    await withClient(gate.controlAdminUrl, (a) => a.query('SELECT pg_terminate_backend($1)', [pid]));
    c.release(new Error('killed'));
    // And the same state made by hand, as the issue describes it.
    await wh((a) => a.query(`ALTER ROLE "${hank.role}" LOGIN VALID UNTIL '${new Date(Date.now() + 3600_000).toISOString()}'`));
    expect(await canLogin(hank.role)).toBe(true);
    expect(await withClient(gate.controlAdminUrl, async (a) => (await a.query(`SELECT count(*)::int AS n FROM credentials WHERE analyst_id = $1`, [hank.id])).rows[0].n)).toBe(0);

    const run = await scheduled();
    expect(run.skipped).toBeUndefined();
    expect(await canLogin(hank.role)).toBe(false);
    const drift = (await auditOf('drift.found')).filter((e) => e.subject === hank.name);
    expect(drift.at(-1).details).toMatchObject({ drift: 'login_without_credential', repaired: true });
  });
});
