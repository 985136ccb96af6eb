// The reconciler against a real warehouse: a fresh bootstrap plans nothing, each kind of drift is
// found, repaired and audited, roles outside the prefix are never touched, runs do not interleave.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { controlDb, createPool } from '../src/db/client.js';
import { holdRoleChangeLock } from '../src/db/role-change-lock.js';
import { reconcile, type ReconcileOptions } from '../src/reconcile/apply.js';
import { Reconciler } from '../src/reconcile/service.js';
import type { Policy } from '../src/policy/schema.js';
import { datasetRole } from '../src/provisioner/roles.js';
import { scramSha256Verifier } from '../src/provisioner/scram.js';
import { expectChainIntact } from './support/audit.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { uniqueSuffix, withClient } from './support/pg.js';

let gate: TestGate;
let dbaPool: pg.Pool;
const asDba = (opts: ReconcileOptions = {}) =>
  reconcile({ policy: gate.policy, prefix: gate.prefix, warehouse: dbaPool, control: gate.controlPool }, opts);
const asGate = (opts: ReconcileOptions = {}) =>
  reconcile({ policy: gate.policy, prefix: gate.prefix, warehouse: gate.warehousePool, control: gate.controlPool }, opts);
const wh = <T>(fn: (c: pg.Client) => Promise<T>) => withClient(gate.warehouseAdminUrl, fn);
const sqlOf = (steps: { sql: string }[]) => steps.map((s) => s.sql);

async function auditOf(action: string) {
  return withClient(gate.controlAdminUrl, async (c) => (await c.query(`SELECT * FROM audit_events WHERE action = $1 ORDER BY id`, [action])).rows);
}

/** An admitted analyst as the gate sets one up: control row, role in the tier, optionally a live credential. */
async function analyst(name: string, opts: { credential?: boolean } = {}) {
  const role = `${gate.prefix}${name}`;
  const id = await withClient(gate.controlAdminUrl, async (c) => {
    const { rows } = await c.query(`INSERT INTO analysts (username, subject, role_name) VALUES ($1, $1, $2) RETURNING id`, [name, role]);
    return rows[0].id as number;
  });
  await gate.services.provisioner.ensureAnalystRole(role);
  if (opts.credential) {
    const expiresAt = new Date(Date.now() + 3600_000);
    await gate.services.provisioner.issue(role, { verifier: await scramSha256Verifier(`pw-${uniqueSuffix()}`), validUntil: expiresAt });
    await withClient(gate.controlAdminUrl, (c) =>
      c.query(`INSERT INTO credentials (analyst_id, role_name, issued_at, expires_at) VALUES ($1, $2, now(), $3)`, [id, role, expiresAt]),
    );
  }
  return { id, role, name };
}

async function liveGrant(analystId: number, role: string, dataset: string) {
  await withClient(gate.controlAdminUrl, async (c) => {
    const { rows } = await c.query(
      `INSERT INTO pii_requests (analyst_id, datasets, purpose, duration_seconds, state, review_deadline, approvals_required)
       VALUES ($1, $2, 'a purpose long enough for the policy of this test', 3600, 'approved', now() + interval '1 day', 1) RETURNING id`,
      [analystId, [dataset]],
    );
    await c.query(
      `INSERT INTO pii_grants (request_id, analyst_id, role_name, dataset, group_role, starts_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, now(), now() + interval '1 hour')`,
      [rows[0].id, analystId, role, dataset, datasetRole(gate.prefix, dataset)],
    );
  });
}

const memberOf = (member: string) =>
  wh(async (c) =>
    (await c.query(`SELECT g.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member WHERE m.rolname = $1 ORDER BY 1`, [member])).rows.map((r) => r.rolname),
  );
const canLogin = (role: string) => wh(async (c) => (await c.query(`SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, [role])).rows[0]?.rolcanlogin);
const hasPrivilege = (role: string, table: string) =>
  wh(async (c) => (await c.query(`SELECT has_table_privilege($1, $2, 'SELECT') AS ok`, [role, table])).rows[0].ok as boolean);

beforeAll(async () => {
  gate = await startTestGate();
  dbaPool = createPool(gate.warehouseAdminUrl, 4);
});
afterAll(async () => {
  await dbaPool?.end();
  await gate?.close();
});

describe('a freshly bootstrapped warehouse', () => {
  // Reading of "plan on a fresh warehouse equals bootstrap": after the DBA bootstrap and
  // prepareDatabases (demo data, control migrations), the reconciler finds nothing to change,
  // neither as a superuser (every step, leak guard included) nor as the gate.
  test('plans nothing, and the demo pseudonymized tier passes the leak guard clean', async () => {
    const dba = await asDba();
    expect(sqlOf(dba.steps)).toEqual([]);
    expect(dba.leakGuard).toEqual({ ran: true, hits: [] });
    const asGateLogin = await asGate();
    expect(asGateLogin.executor).toEqual({ user: gate.roles.gate, superuser: false });
    expect(sqlOf(asGateLogin.steps)).toEqual([]);
    expect(asGateLogin.leakGuard.ran).toBe(false);
  });

  test('the bootstrap gave each dataset role exactly its tables, and nothing gives the PII tier as a whole', async () => {
    expect(await hasPrivilege(datasetRole(gate.prefix, 'maintainer_identities'), 'pii.users')).toBe(true);
    expect(await hasPrivilege(datasetRole(gate.prefix, 'maintainer_identities'), 'pii.message_text')).toBe(false);
    expect(await hasPrivilege(datasetRole(gate.prefix, 'message_text'), 'pii.message_text')).toBe(true);
    expect(await hasPrivilege(gate.roles.pseudonymized, 'pii.users')).toBe(false);
    expect(await wh(async (c) => (await c.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [`${gate.prefix}tier_pii`])).rowCount)).toBe(0);
  });
});

describe('drift', () => {
  test('a PII table granted to an analyst by hand is revoked on apply and audited; the plan only reports it', async () => {
    const a = await analyst(`hand${uniqueSuffix()}`);
    await wh((c) => c.query(`GRANT SELECT ON pii.users TO "${a.role}"`));
    const plan = await asDba();
    expect(sqlOf(plan.steps)).toEqual([`REVOKE SELECT ON TABLE "pii"."users" FROM "${a.role}"`]);
    expect(plan.steps[0]).toMatchObject({ kind: 'drift', runAs: 'dba', subject: a.name });
    expect(await hasPrivilege(a.role, 'pii.users')).toBe(true); // plan changed nothing
    // The gate cannot revoke table privileges: it reports the step as pending and leaves it.
    const byGate = await asGate({ apply: true });
    expect(sqlOf(byGate.pending)).toEqual(sqlOf(plan.steps));
    expect(byGate.applied).toEqual([]);
    expect(await hasPrivilege(a.role, 'pii.users')).toBe(true);

    const applied = await asDba({ apply: true });
    expect(sqlOf(applied.applied)).toEqual(sqlOf(plan.steps));
    expect(await hasPrivilege(a.role, 'pii.users')).toBe(false);
    expect(sqlOf((await asDba()).steps)).toEqual([]);
    const drift = (await auditOf('drift.found')).filter((e) => e.subject === a.name);
    expect(drift.at(-1).details).toMatchObject({ grantee: a.role, privilege: 'SELECT', object: 'table pii.users', repaired: true });
    expect(drift.at(0).details.repaired).toBe(false); // the gate's run recorded it, unrepaired
  });

  test('an analyst role with LOGIN but no live credential is disabled by the gate itself and its session ended', async () => {
    const a = await analyst(`login${uniqueSuffix()}`);
    const password = `pw-${uniqueSuffix()}`;
    await wh((c) => c.query(`ALTER ROLE "${a.role}" LOGIN PASSWORD '${password}'`));
    const session = new pg.Client({ connectionString: gate.warehouseUrl.replace(/\/\/[^@]+@/, `//${a.role}:${password}@`) });
    session.on('error', () => {});
    await session.connect();
    const result = await asGate({ apply: true });
    expect(result.applied.map((s) => s.reason)).toEqual([
      expect.stringContaining(`${a.role} (${a.name}) has LOGIN but no live credential`),
      `end the sessions of ${a.role}`,
    ]);
    expect(await canLogin(a.role)).toBe(false);
    await expect(session.query('SELECT 1')).rejects.toThrow();
    expect(sqlOf((await asDba()).steps)).toEqual([]);
    expect((await auditOf('drift.found')).at(-1)).toMatchObject({ subject: a.name, details: { drift: 'login_without_credential', repaired: true } });
  });

  test('a credential in flight (warehouse changed, control row not yet committed) is waited for, not undone', async () => {
    const a = await analyst(`flight${uniqueSuffix()}`);
    const gateControl = await gate.controlPool.connect();
    try {
      // What CredentialService.issue does, paused between its warehouse change and its COMMIT.
      await gateControl.query('BEGIN');
      await holdRoleChangeLock(controlDb(gateControl as unknown as pg.Pool));
      const expiresAt = new Date(Date.now() + 3600_000);
      await gate.services.provisioner.issue(a.role, { verifier: await scramSha256Verifier(`pw-${uniqueSuffix()}`), validUntil: expiresAt });
      let settled = false;
      const run = asGate({ apply: true }).then((r) => ((settled = true), r));
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false); // it waits for the change to commit...
      await gateControl.query(`INSERT INTO credentials (analyst_id, role_name, issued_at, expires_at) VALUES ($1, $2, now(), $3)`, [a.id, a.role, expiresAt]);
      await gateControl.query('COMMIT');
      const result = await run;
      // ...and then sees a LOGIN that a live credential explains.
      expect(sqlOf(result.steps).filter((q) => q.includes(a.role))).toEqual([]);
      expect(await canLogin(a.role)).toBe(true);
    } finally {
      await gateControl.query('ROLLBACK').catch(() => {});
      gateControl.release();
    }
  });

  test('an analyst with a live credential keeps LOGIN', async () => {
    const a = await analyst(`live${uniqueSuffix()}`, { credential: true });
    expect(sqlOf((await asGate()).steps)).toEqual([]);
    expect(await canLogin(a.role)).toBe(true);
  });

  test('a group role missing SELECT on a new pseudonymized table gets it (after the leak guard)', async () => {
    await wh((c) => c.query(`CREATE TABLE pseudonymized.release_counts AS SELECT category, count(*) AS n FROM pseudonymized.messages GROUP BY 1`));
    const plan = await asDba();
    expect(sqlOf(plan.steps)).toEqual([`GRANT SELECT ON TABLE "pseudonymized"."release_counts" TO "${gate.roles.pseudonymized}"`]);
    expect(plan.leakGuard).toEqual({ ran: true, hits: [] });
    await asDba({ apply: true });
    expect(await hasPrivilege(gate.roles.pseudonymized, 'pseudonymized.release_counts')).toBe(true);
    expect(sqlOf((await asDba()).steps)).toEqual([]);
  });

  test('a table whose name holds a dot or a quote is granted as itself', async () => {
    await wh((c) => c.query(`CREATE TABLE pseudonymized."odd.name ""x""" AS SELECT 1 AS n`));
    const plan = await asDba();
    expect(sqlOf(plan.steps)).toEqual([`GRANT SELECT ON TABLE "pseudonymized"."odd.name ""x""" TO "${gate.roles.pseudonymized}"`]);
    await asDba({ apply: true });
    expect(await hasPrivilege(gate.roles.pseudonymized, 'pseudonymized."odd.name ""x"""')).toBe(true);
    expect(sqlOf((await asDba()).steps)).toEqual([]);
  });

  test('a new PII table is covered for pgaudit by default privileges; a hand-added default grant is revoked', async () => {
    await wh((c) => c.query(`CREATE TABLE pii.extra (x text)`));
    expect(await hasPrivilege(gate.roles.piiAudit, 'pii.extra')).toBe(true);
    await wh((c) => c.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA pseudonymized GRANT SELECT ON TABLES TO "${gate.roles.pseudonymized}"`));
    const plan = await asDba();
    expect(sqlOf(plan.steps)).toEqual([
      expect.stringMatching(new RegExp(`^ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" IN SCHEMA "pseudonymized" REVOKE SELECT ON TABLES FROM "${gate.roles.pseudonymized}"$`)),
    ]);
    await asDba({ apply: true });
    expect(sqlOf((await asDba()).steps)).toEqual([]);
  });

  test('dataset membership follows live PII grants: granted by the gate, and a hand grant is revoked', async () => {
    const a = await analyst(`pii${uniqueSuffix()}`);
    const ds = datasetRole(gate.prefix, 'maintainer_identities');
    const other = datasetRole(gate.prefix, 'message_text');
    await liveGrant(a.id, a.role, 'maintainer_identities');
    await wh((c) => c.query(`GRANT "${other}" TO "${a.role}"`)); // by hand, by a superuser
    const byGate = await asGate({ apply: true });
    expect(sqlOf(byGate.applied)).toEqual([`GRANT "${ds}" TO "${a.role}" WITH INHERIT TRUE, SET FALSE GRANTED BY "${gate.roles.gate}"`]);
    // The superuser's grant can only be revoked by a superuser: pending for the gate.
    expect(sqlOf(byGate.pending)).toEqual([`REVOKE "${other}" FROM "${a.role}" GRANTED BY "postgres"`]);
    await asDba({ apply: true });
    expect(await memberOf(a.role)).toEqual([ds, gate.roles.pseudonymized].sort());
    expect(sqlOf((await asDba()).steps)).toEqual([]);
    // The grant ends: the gate revokes its own grant.
    await withClient(gate.controlAdminUrl, (c) => c.query(`UPDATE pii_grants SET ended_at = now(), end_reason = 'expired' WHERE analyst_id = $1`, [a.id]));
    const ended = await asGate({ apply: true });
    expect(sqlOf(ended.applied)).toEqual([`REVOKE "${ds}" FROM "${a.role}" GRANTED BY "${gate.roles.gate}"`]);
    expect(await memberOf(a.role)).toEqual([gate.roles.pseudonymized]);
  });

  test('an unknown role under the prefix is disabled and loses its managed memberships; roles outside the prefix are never touched', async () => {
    const stray = `${gate.prefix}stray${uniqueSuffix()}`;
    const outsider = `outsider_${uniqueSuffix()}`;
    await wh(async (c) => {
      await c.query(`CREATE ROLE "${stray}" LOGIN`);
      await c.query(`GRANT "${gate.roles.pseudonymized}" TO "${stray}"`);
      await c.query(`CREATE ROLE "${outsider}" LOGIN`);
      await c.query(`GRANT "${gate.roles.pseudonymized}", "${datasetRole(gate.prefix, 'message_text')}" TO "${outsider}"`);
      await c.query(`GRANT SELECT ON pii.users TO "${outsider}"`);
    });
    const plan = await asDba();
    expect(plan.steps.every((s) => !s.sql.includes(outsider))).toBe(true);
    expect(sqlOf(plan.steps)).toEqual([
      `ALTER ROLE "${stray}" WITH NOLOGIN PASSWORD NULL VALID UNTIL '-infinity'`,
      `REVOKE "${gate.roles.pseudonymized}" FROM "${stray}" GRANTED BY "postgres"`,
      `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '${stray}' AND pid <> pg_backend_pid()`,
    ]);
    await asDba({ apply: true });
    expect(await canLogin(stray)).toBe(false);
    expect(await memberOf(stray)).toEqual([]);
    expect(await canLogin(outsider)).toBe(true);
    expect(await memberOf(outsider)).toEqual([gate.roles.pseudonymized, datasetRole(gate.prefix, 'message_text')].sort());
    expect(await hasPrivilege(outsider, 'pii.users')).toBe(true);
    expect(sqlOf((await asDba()).steps)).toEqual([]);
    await wh((c) => c.query(`DROP OWNED BY "${outsider}"; DROP ROLE "${outsider}"`)); // keep later plans about this file only
  });

  test('a group role holding more than the policy gives, and PUBLIC access, are revoked', async () => {
    await wh(async (c) => {
      await c.query(`GRANT INSERT ON pseudonymized.users TO "${gate.roles.pseudonymized}"`);
      await c.query(`GRANT SELECT ON pii.message_text TO PUBLIC`);
      await c.query(`GRANT "${gate.roles.piiAudit}" TO "${gate.roles.pseudonymized}"`);
    });
    const plan = await asDba();
    expect(sqlOf(plan.steps).sort()).toEqual(
      [
        `REVOKE "${gate.roles.piiAudit}" FROM "${gate.roles.pseudonymized}" GRANTED BY "postgres"`,
        `REVOKE INSERT ON TABLE "pseudonymized"."users" FROM "${gate.roles.pseudonymized}"`,
        `REVOKE SELECT ON TABLE "pii"."message_text" FROM PUBLIC`,
      ].sort(),
    );
    await asDba({ apply: true });
    expect(sqlOf((await asDba()).steps)).toEqual([]);
  });
});

describe('policy changes', () => {
  test('a new dataset in the policy: the gate creates its role, a DBA grants its tables; removing it retires the role', async () => {
    const withAll: Policy = {
      ...gate.policy,
      pii_datasets: [
        ...gate.policy.pii_datasets,
        { name: 'everything', description: 'both PII tables', tables: ['pii.users', 'pii.message_text'], max_duration: 3600, approvals_required: 2, min_purpose_length: 80 },
      ],
    };
    const role = datasetRole(gate.prefix, 'everything');
    const run = (warehouse: pg.Pool, policy: Policy, opts: ReconcileOptions = {}) => reconcile({ policy, prefix: gate.prefix, warehouse, control: gate.controlPool }, opts);
    const byGate = await run(gate.warehousePool, withAll, { apply: true });
    expect(sqlOf(byGate.applied)).toEqual([`CREATE ROLE "${role}" NOLOGIN`]);
    expect(sqlOf(byGate.pending)).toEqual([
      `GRANT "${role}" TO "${gate.roles.gate}" WITH ADMIN TRUE, INHERIT FALSE, SET FALSE`,
      `GRANT USAGE ON SCHEMA "pii" TO "${role}"`,
      `GRANT SELECT ON TABLE "pii"."users" TO "${role}"`,
      `GRANT SELECT ON TABLE "pii"."message_text" TO "${role}"`,
    ]);
    // The gate created it, so it already administers it: the DBA's run needs only the privileges.
    const byDba = await run(dbaPool, withAll, { apply: true });
    expect(sqlOf(byDba.applied)).toEqual(sqlOf(byGate.pending).slice(1));
    expect(sqlOf((await run(dbaPool, withAll)).steps)).toEqual([]);
    expect(await hasPrivilege(role, 'pii.message_text')).toBe(true);

    // Retired: an analyst still holding it loses it; the role itself stays (roles are never dropped).
    const a = await analyst(`ret${uniqueSuffix()}`);
    await liveGrant(a.id, a.role, 'everything');
    await run(gate.warehousePool, withAll, { apply: true });
    expect(await memberOf(a.role)).toContain(role);
    const retired = await run(gate.warehousePool, gate.policy, { apply: true });
    expect(sqlOf(retired.applied)).toEqual([`REVOKE "${role}" FROM "${a.role}" GRANTED BY "${gate.roles.gate}"`]);
    expect(await memberOf(a.role)).toEqual([gate.roles.pseudonymized]);
  });

  test('pgaudit\'s role keeps SELECT on every PII table, partitions included, and nothing else', async () => {
    await wh(async (c) => {
      await c.query(`CREATE TABLE pii.events (id int, at date) PARTITION BY RANGE (at)`);
      await c.query(`CREATE TABLE pii.events_2026 PARTITION OF pii.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`);
      await c.query(`REVOKE SELECT ON pii.events_2026 FROM "${gate.roles.piiAudit}"`);
      await c.query(`GRANT SELECT ON pseudonymized.users TO "${gate.roles.piiAudit}"`);
      await c.query(`GRANT USAGE ON SCHEMA pii TO "${gate.roles.piiAudit}"`);
    });
    const plan = await asDba({ apply: true });
    expect(sqlOf(plan.applied).sort()).toEqual(
      [
        `GRANT SELECT ON TABLE "pii"."events_2026" TO "${gate.roles.piiAudit}"`,
        `REVOKE SELECT ON TABLE "pseudonymized"."users" FROM "${gate.roles.piiAudit}"`,
        `REVOKE USAGE ON SCHEMA "pii" FROM "${gate.roles.piiAudit}"`,
      ].sort(),
    );
    const covered = await wh(async (c) =>
      (await c.query(`SELECT c.relname, has_table_privilege($1, c.oid, 'SELECT') AS ok FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'pii' AND c.relkind IN ('r', 'p') ORDER BY 1`, [gate.roles.piiAudit])).rows,
    );
    expect(covered.length).toBeGreaterThanOrEqual(4);
    expect(covered.filter((r) => !r.ok)).toEqual([]);
    await wh((c) => c.query(`DROP TABLE pii.events`));
  });
});

describe('locking and the audit trail', () => {
  test('two gateway instances on schedule at once: one applies, drift is audited once', async () => {
    const a = await analyst(`sched${uniqueSuffix()}`);
    await wh((c) => c.query(`ALTER ROLE "${a.role}" LOGIN`));
    const deps = { policy: gate.policy, prefix: gate.prefix, warehouse: gate.warehousePool, control: gate.controlPool };
    const [r1, r2] = await Promise.all([new Reconciler(deps).runScheduled(), new Reconciler(deps).runScheduled()]);
    expect([r1, r2].flatMap((r) => r.applied.filter((s) => !s.afterCommit)).map((s) => s.subject)).toEqual([a.name]);
    expect(await canLogin(a.role)).toBe(false);
    expect((await auditOf('drift.found')).filter((e) => e.subject === a.name)).toHaveLength(1);
  });

  test('two reconcilers started at once do not interleave: one applies, the other then finds nothing', async () => {
    const a = await analyst(`race${uniqueSuffix()}`);
    await wh((c) => c.query(`GRANT SELECT ON pii.users, pii.message_text TO "${a.role}"; ALTER ROLE "${a.role}" LOGIN`));
    const expected = (await asDba()).steps.length;
    expect(expected).toBe(4);
    const [r1, r2] = await Promise.all([asDba({ apply: true }), asDba({ apply: true })]);
    expect([r1.applied.length, r2.applied.length].sort()).toEqual([0, expected]);
    expect(sqlOf((await asDba()).steps)).toEqual([]);
  });

  test('a scheduled run (try-lock) skips while another reconciler holds the lock', async () => {
    // Another reconciler, paused behind an in-flight gate change (which holds the role-change lock shared).
    const change = await gate.controlPool.connect();
    await change.query('BEGIN');
    await holdRoleChangeLock(controlDb(change as unknown as pg.Pool));
    const other = asDba({ apply: true, actor: 'test:other' });
    try {
      const waiting = () =>
        withClient(gate.controlAdminUrl, async (c) => (await c.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)).rows[0].n);
      await expect.poll(waiting, { timeout: 5_000 }).toBeGreaterThan(0);
      const skipped = await asGate({ apply: true, tryLock: true });
      expect(skipped).toMatchObject({ skipped: 'locked', lockBusy: { lock: 'reconcile', holders: [{ user: gate.roles.gate, applicationName: expect.stringContaining('test:other') }] } });
    } finally {
      await change.query('ROLLBACK');
      change.release();
      await other;
    }
    expect((await asGate({ apply: true, tryLock: true })).skipped).toBeUndefined();
  });

  test('policy.applied names the policy version; the chain stays intact', async () => {
    const applied = await auditOf('policy.applied');
    expect(applied.length).toBeGreaterThan(0);
    expect(applied.at(-1).details).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/), agreementVersion: gate.policy.agreement.version });
    await expectChainIntact(gate.controlAdminUrl);
  });
});
