// Ending analysts' warehouse sessions (src/provisioner/sessions.ts): only the named roles' sessions
// are signalled, and waitUntilGone returns only once they have left pg_stat_activity, so a grant is
// never recorded as ended while one of its sessions is still there.
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { terminateRoleSessions, waitUntilGone } from '../src/provisioner/sessions.js';
import { adminUrl, createDatabase, uniqueSuffix, urlFor, withClient } from './support/pg.js';

const suffix = uniqueSuffix();
const ending = `ending_${suffix}`;
const bystander = `bystander_${suffix}`;
const password = `pw-${uniqueSuffix()}-${uniqueSuffix()}`;
const su = new pg.Client({ connectionString: adminUrl() });
const open: pg.Client[] = [];
let database = '';

const connect = async (user: string) => {
  const c = new pg.Client({ connectionString: urlFor(database, user, password) });
  c.on('error', () => {});
  await c.connect();
  await c.query('SELECT 1');
  open.push(c);
  return c;
};
const sessionsOf = async (user: string) =>
  (await su.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1`, [user])).rows[0]!.n;

beforeAll(async () => {
  await su.connect();
  database = await createDatabase('sessions');
  for (const r of [ending, bystander]) {
    await su.query(`CREATE ROLE ${su.escapeIdentifier(r)} LOGIN PASSWORD '${password}'`);
    // Other suites' bootstraps revoke CONNECT from PUBLIC on databases of this shared cluster.
    await su.query(`GRANT CONNECT ON DATABASE ${su.escapeIdentifier(database)} TO ${su.escapeIdentifier(r)}`);
  }
});

afterAll(async () => {
  for (const c of open) await c.end().catch(() => {});
  await withClient(adminUrl(), async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(database)}`);
    for (const r of [ending, bystander]) await c.query(`DROP ROLE IF EXISTS ${c.escapeIdentifier(r)}`);
  });
  await su.end();
});

test("ends every session of the named roles and no one else's, and waits until they are gone", async () => {
  for (let i = 0; i < 5; i++) await connect(ending);
  const other = await connect(bystander);
  const ended = await terminateRoleSessions(su, [ending]);
  expect(ended).toHaveLength(5);
  expect(new Set(ended.map((b) => b.user))).toEqual(new Set([ending]));
  await waitUntilGone(su, ended);
  // Read right after, without any wait of our own: nothing of them is left.
  expect(await sessionsOf(ending)).toBe(0);
  expect((await other.query<{ ok: number }>('SELECT 1 AS ok')).rows[0]!.ok).toBe(1);
  expect(await sessionsOf(bystander)).toBe(1);
});

test('a session that does not end in time fails the wait (nothing may be recorded then)', async () => {
  const c = await connect(bystander);
  const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const started = (await su.query<{ s: string }>(`SELECT backend_start::text AS s FROM pg_stat_activity WHERE pid = $1`, [pid])).rows[0]!.s;
  // Not signalled: it stays, and the wait gives up at its limit.
  await expect(waitUntilGone(su, [{ user: bystander, pid, started }], 50)).rejects.toThrow(/still there/);
});
