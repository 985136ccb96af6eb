// The DBA's commands as processes: `npm run bootstrap` against a fresh database (the gate's
// password only ever travels as a SCRAM verifier), `--print`, and `npm run reconcile` plan/apply.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestGate, startTestGate } from './support/gate.js';
import { adminUrl, createDatabase, pgLogFile, uniqueSuffix, urlFor, withClient } from './support/pg.js';

const tsx = async (script: string, args: string[], env: Record<string, string> = {}) => {
  try {
    const { stdout, stderr } = await promisify(execFile)('npx', ['tsx', script, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

describe('npm run bootstrap', () => {
  const prefix = `bs${uniqueSuffix()}_`;
  const password = `gate-pw-${uniqueSuffix()}-${uniqueSuffix()}`;
  let database: string;

  beforeAll(async () => {
    database = await createDatabase('bs');
  });

  test('--print writes the SQL with a verifier, never the password', async () => {
    const r = await tsx('src/node/bootstrap.ts', ['--print', '--url', urlFor(database), '--prefix', prefix], { GATE_PASSWORD: password });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`CREATE ROLE "${prefix}gate" LOGIN`);
    expect(r.stdout).toMatch(/PASSWORD 'SCRAM-SHA-256\$4096:/);
    expect(r.stdout + r.stderr).not.toContain(password);
    // Printing changed nothing.
    await withClient(adminUrl(), async (c) => expect((await c.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [`${prefix}gate`])).rowCount).toBe(0));
  });

  test('creates a CREATEROLE gate login (not superuser, no BYPASSRLS) that logs in with GATE_PASSWORD; no log line holds the password', async () => {
    const r = await tsx('src/node/bootstrap.ts', ['--prefix', prefix], { GATE_PASSWORD: password, BOOTSTRAP_DATABASE_URL: urlFor(database) });
    expect(r.stderr).not.toContain('failed');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`gate login ${prefix}gate`);
    const roles = await withClient(adminUrl(), async (c) =>
      (await c.query(`SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1`, [prefix])).rows,
    );
    expect(roles).toEqual([
      { rolname: `${prefix}gate`, rolcanlogin: true, rolsuper: false, rolcreaterole: true, rolbypassrls: false },
      { rolname: `${prefix}pii_audit`, rolcanlogin: false, rolsuper: false, rolcreaterole: false, rolbypassrls: false },
      { rolname: `${prefix}pii_maintainer_identities`, rolcanlogin: false, rolsuper: false, rolcreaterole: false, rolbypassrls: false },
      { rolname: `${prefix}pii_message_text`, rolcanlogin: false, rolsuper: false, rolcreaterole: false, rolbypassrls: false },
      { rolname: `${prefix}tier_pseudonymized`, rolcanlogin: false, rolsuper: false, rolcreaterole: false, rolbypassrls: false },
    ]);
    await withClient(urlFor(database, `${prefix}gate`, password), async (c) => {
      expect((await c.query(`SELECT has_schema_privilege('public', 'pseudonymized', 'USAGE') AS pub`)).rows[0].pub).toBe(false);
    });
    expect(readFileSync(pgLogFile(), 'utf8')).not.toContain(password);
    // A second run changes nothing and does not fail.
    expect((await tsx('src/node/bootstrap.ts', ['--prefix', prefix, '--url', urlFor(database)], { GATE_PASSWORD: password })).code).toBe(0);
  });

  test('refuses a login that is not a superuser', async () => {
    const r = await tsx('src/node/bootstrap.ts', ['--prefix', `x${prefix}`, '--url', urlFor(database, `${prefix}gate`, password)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not a superuser');
  });
});

describe('npm run reconcile', () => {
  let gate: TestGate;
  beforeAll(async () => {
    gate = await startTestGate({ demoMessages: 200 });
  });
  afterAll(async () => {
    await gate?.close();
  });
  const reconcileCli = (...extra: string[]) =>
    tsx('src/node/reconcile.ts', ['--url', gate.warehouseAdminUrl, '--control-url', gate.controlAdminUrl, '--prefix', gate.prefix, ...extra]);

  test('plans by default, applies with --apply, and a second run plans nothing', async () => {
    expect((await reconcileCli()).stdout).toContain('The warehouse matches the policy: nothing to do.');
    await withClient(gate.warehouseAdminUrl, (c) => c.query(`GRANT SELECT ON pii.message_text TO "${gate.roles.pseudonymized}"`));
    const plan = await reconcileCli();
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain(`-- drift (needs a DBA): ${gate.roles.pseudonymized} holds SELECT on table pii.message_text, which the policy does not give`);
    expect(plan.stdout).toContain(`REVOKE SELECT ON TABLE "pii"."message_text" FROM "${gate.roles.pseudonymized}";`);
    expect(plan.stdout).toContain('Leak guard: clean.');
    expect(plan.stdout).toContain('Plan only: run again with -- --apply');
    const canRead = () =>
      withClient(gate.warehouseAdminUrl, async (c) => (await c.query(`SELECT has_table_privilege($1, 'pii.message_text', 'SELECT') AS ok`, [gate.roles.pseudonymized])).rows[0].ok);
    expect(await canRead()).toBe(true);
    const applied = await reconcileCli('--apply');
    expect(applied.stdout).toContain('Applied 1 step(s) in one transaction.');
    expect(await canRead()).toBe(false);
    expect((await reconcileCli()).stdout).toContain('nothing to do');
    const events = (await gate.controlPool.query(`SELECT action, actor FROM audit_events WHERE action IN ('drift.found', 'policy.applied') ORDER BY id`)).rows;
    expect(events).toEqual([
      { action: 'drift.found', actor: 'system:reconciler-cli' },
      { action: 'policy.applied', actor: 'system:reconciler-cli' },
    ]);
  });

  test('as the gate login it lists the table steps as pending', async () => {
    await withClient(gate.warehouseAdminUrl, (c) => c.query(`GRANT SELECT ON pii.message_text TO "${gate.roles.pseudonymized}"`));
    const r = await tsx('src/node/reconcile.ts', ['--url', gate.warehouseUrl, '--control-url', gate.controlUrl, '--prefix', gate.prefix]);
    expect(r.stdout).toContain('1 step(s) need the table owner or a superuser');
    expect(r.stdout).toContain('Leak guard: not run');
    await withClient(gate.warehouseAdminUrl, (c) => c.query(`REVOKE SELECT ON pii.message_text FROM "${gate.roles.pseudonymized}"`));
  });
});

