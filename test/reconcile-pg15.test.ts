// The reconciler on Debian's PostgreSQL 15, where GRANT has no INHERIT/SET options and CREATEROLE
// may grant and revoke any non-superuser role: a fresh bootstrap plans nothing, the gate itself
// repairs membership drift, and revoking a dataset role also ends the analyst's sessions (a session
// that did SET ROLE would otherwise keep the group: there is no SET FALSE before PG16).
import pg from 'pg';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { urlWith } from '../src/node/databases.js';
import { loadPolicy } from '../src/policy/load.js';
import { Provisioner } from '../src/provisioner/provisioner.js';
import { datasetRole } from '../src/provisioner/roles.js';
import { reconcile } from '../src/reconcile/apply.js';
import { type Pg15Gate, startPg15Gate } from './support/debian-pg.js';
import { uniqueSuffix, withClient } from './support/pg.js';

const prefix = `p15${uniqueSuffix()}_`;
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

const run = (warehouse: pg.Pool, apply = false) => reconcile({ policy, prefix, warehouse, control: controlPool }, { apply });

test('PG15: a fresh bootstrap plans nothing; the gate revokes a hand-granted dataset role and ends the sessions', async () => {
  expect((await run(dbaPool)).steps.map((s) => s.sql)).toEqual([]);
  expect((await run(gatePool)).steps.map((s) => s.sql)).toEqual([]);

  const role = `${prefix}bob`;
  await withClient(controlAdminUrl, (c) => c.query(`INSERT INTO analysts (username, subject, role_name) VALUES ('bob', 'bob', $1)`, [role]));
  await new Provisioner(gatePool, prefix, policy.credentials).ensureAnalystRole(role);
  const ds = datasetRole(prefix, 'maintainer_identities');
  await withClient(warehouseAdminUrl, async (c) => {
    await c.query(`GRANT "${ds}" TO "${role}"`);
    await c.query(`ALTER ROLE "${role}" LOGIN PASSWORD 'bob-pw-15'`);
  });
  // Bob's live credential is real in the control database, so LOGIN stays; the dataset role goes.
  await withClient(controlAdminUrl, (c) =>
    c.query(`INSERT INTO credentials (analyst_id, role_name, issued_at, expires_at) SELECT id, role_name, now(), now() + interval '1 hour' FROM analysts WHERE username = 'bob'`),
  );
  const session = new pg.Client({ connectionString: urlWith(g.cluster.superuserUrl, 'warehouse', role, 'bob-pw-15') });
  session.on('error', () => {});
  await session.connect();
  await session.query(`SET ROLE "${ds}"`);

  const applied = await run(gatePool, true);
  expect(applied.pending).toEqual([]);
  expect(applied.applied.map((s) => s.sql)).toEqual([
    `REVOKE "${ds}" FROM "${role}"`,
    `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '${role}' AND pid <> pg_backend_pid()`,
  ]);
  await expect(session.query('SELECT 1 FROM pii.users LIMIT 1')).rejects.toThrow();
  const member = await withClient(warehouseAdminUrl, async (c) => (await c.query(`SELECT pg_has_role($1, $2, 'MEMBER') AS m`, [role, ds])).rows[0].m);
  expect(member).toBe(false);
  expect((await run(dbaPool)).steps.map((s) => s.sql)).toEqual([]);
});
