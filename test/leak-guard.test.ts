// The leak guard plants personal data in a copy of the demo pseudonymized tier and must catch it:
// the column and an example row id are named (never the value), the pseudonymized grants are
// withheld, an already granted table is taken away, and every hit is audited.
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createPool } from '../src/db/client.js';
import { reconcile } from '../src/reconcile/apply.js';
import { runLeakGuard } from '../src/reconcile/leak-guard.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { withClient } from './support/pg.js';

let gate: TestGate;
let dbaPool: pg.Pool;
const wh = <T>(fn: (c: pg.Client) => Promise<T>) => withClient(gate.warehouseAdminUrl, fn);

beforeAll(async () => {
  gate = await startTestGate();
  dbaPool = createPool(gate.warehouseAdminUrl, 2);
});
afterAll(async () => {
  await dbaPool?.end();
  await gate?.close();
});

test('pseudonyms in header keys pass; a real username, an e-mail and an IP address planted in a copy are caught', async () => {
  const demo = await wh(async (c) => {
    const { rows } = await c.query(`SELECT count(*)::int AS n FROM pseudonymized.messages m, jsonb_object_keys(m.headers) k WHERE k LIKE 'fedora\\_messaging\\_user\\_%'`);
    return rows[0].n as number;
  });
  expect(demo).toBeGreaterThan(0); // the clean tier really has user keys (holding pseudonyms)
  const clean = await wh((c) => runLeakGuard(c, gate.policy, ['pseudonymized.messages', 'pseudonymized.users', 'pseudonymized.packages']));
  expect(clean).toEqual([]);

  // The dictionary's own rule, on the real table, inside a transaction that is rolled back.
  const inPlace = await wh(async (c) => {
    await c.query('BEGIN');
    try {
      const { rows } = await c.query(
        `UPDATE pseudonymized.messages SET headers = COALESCE(headers, '{}') || jsonb_build_object('fedora_messaging_user_' || (SELECT username FROM pii.users LIMIT 1), true)
          WHERE id = 7 RETURNING id`,
      );
      expect(rows).toHaveLength(1);
      return await runLeakGuard(c, gate.policy, ['pseudonymized.messages']);
    } finally {
      await c.query('ROLLBACK');
    }
  });
  expect(inPlace.map((h) => ({ ...h, rowId: h.rowId?.split(',')[0] }))).toEqual([
    { table: 'pseudonymized.messages', column: 'headers', rule: 'json-key', pattern: 'fedora_messaging_user_*', rowId: '7' },
  ]);

  const planted = await wh(async (c) => {
    await c.query(`CREATE TABLE pseudonymized.messages_copy AS SELECT * FROM pseudonymized.messages`);
    await c.query(`ALTER TABLE pseudonymized.messages_copy ADD PRIMARY KEY (id, "timestamp")`);
    await c.query(`CREATE TABLE pseudonymized.users_copy AS SELECT * FROM pseudonymized.users`);
    await c.query(`ALTER TABLE pseudonymized.users_copy ADD PRIMARY KEY (id)`);
    const { rows } = await c.query(`SELECT username, email FROM pii.users ORDER BY username LIMIT 1`);
    const victim = rows[0] as { username: string; email: string };
    // The pseudonymizer "forgot" one header: the key names the real account.
    const msg = (
      await c.query(
        `UPDATE pseudonymized.messages_copy SET headers = COALESCE(headers, '{}') || jsonb_build_object('fedora_messaging_user_' || $1::text, true)
          WHERE id = (SELECT min(id) FROM pseudonymized.messages_copy) RETURNING id, to_char("timestamp", 'YYYY-MM-DD HH24:MI:SS') AS ts`,
        [victim.username],
      )
    ).rows[0];
    const user = (await c.query(`UPDATE pseudonymized.users_copy SET pseudonym = $1 WHERE id = (SELECT max(id) FROM pseudonymized.users_copy) RETURNING id`, [victim.email])).rows[0];
    await c.query(`ALTER TABLE pseudonymized.messages_copy ADD COLUMN client_addr text`);
    const ip = (await c.query(`UPDATE pseudonymized.messages_copy SET client_addr = '192.0.2.44' WHERE id = (SELECT max(id) FROM pseudonymized.messages_copy) RETURNING id`)).rows[0];
    // A clean new table: its grant waits while the tier has a leak.
    await c.query(`CREATE TABLE pseudonymized.category_counts AS SELECT category, count(*) AS n FROM pseudonymized.messages GROUP BY 1`);
    // Already readable by every analyst, by hand: the guard must take it away again.
    await c.query(`GRANT SELECT ON pseudonymized.users_copy TO "${gate.roles.pseudonymized}"`);
    return { victim, msg, user, ip };
  });

  const deps = { policy: gate.policy, prefix: gate.prefix, warehouse: dbaPool, control: gate.controlPool };
  const plan = await reconcile(deps);
  const hits = plan.leakGuard.hits.map(({ rowId, ...h }) => ({ ...h, rowId: rowId?.split(',')[0] }));
  expect(hits).toEqual(
    expect.arrayContaining([
      // The copy is not named by the dictionary's `*.messages.headers`: the generic key rule catches it.
      { table: 'pseudonymized.messages_copy', column: 'headers', rule: 'json-key', rowId: String(planted.msg.id) },
      { table: 'pseudonymized.messages_copy', column: 'client_addr', rule: 'ip-address', rowId: String(planted.ip.id) },
      { table: 'pseudonymized.users_copy', column: 'pseudonym', rule: 'email', rowId: String(planted.user.id) },
    ]),
  );
  expect(hits).toHaveLength(3);
  // No planted value anywhere in what the guard reports.
  const reported = JSON.stringify(plan.leakGuard.hits);
  for (const v of [planted.victim.username, planted.victim.email, '192.0.2.44']) expect(reported).not.toContain(v);

  const applied = await reconcile(deps, { apply: true });
  expect(applied.withheld.map((s) => s.sql)).toEqual([`GRANT SELECT ON TABLE "pseudonymized"."category_counts" TO "${gate.roles.pseudonymized}"`]);
  expect(applied.applied.map((s) => s.sql)).toEqual([`REVOKE SELECT ON TABLE "pseudonymized"."users_copy" FROM "${gate.roles.pseudonymized}"`]);
  expect(applied.applied[0]!.kind).toBe('leak');
  const canRead = (t: string) => wh(async (c) => (await c.query(`SELECT has_table_privilege($1, $2, 'SELECT') AS ok`, [gate.roles.pseudonymized, t])).rows[0].ok);
  expect(await canRead('pseudonymized.messages_copy')).toBe(false);
  expect(await canRead('pseudonymized.users_copy')).toBe(false);
  expect(await canRead('pseudonymized.category_counts')).toBe(false);
  expect(await canRead('pseudonymized.messages')).toBe(true);

  const events = await withClient(gate.controlAdminUrl, async (c) => (await c.query(`SELECT action, details FROM audit_events WHERE action IN ('leak_guard.hit', 'policy.applied') ORDER BY id`)).rows);
  expect(events.filter((e) => e.action === 'leak_guard.hit').map((e) => `${e.details.table}.${e.details.column}`).sort()).toEqual(
    ['pseudonymized.messages_copy.client_addr', 'pseudonymized.messages_copy.headers', 'pseudonymized.users_copy.pseudonym'],
  );
  expect(events.at(-1)).toMatchObject({ action: 'policy.applied', details: { leakGuard: 'hits', steps: 1, withheld: 1 } });
  const audit = JSON.stringify(events);
  for (const v of [planted.victim.username, planted.victim.email, '192.0.2.44']) expect(audit).not.toContain(v);

  // Fixed at the source: the copies are dropped, and the tier is clean again.
  await wh((c) => c.query(`DROP TABLE pseudonymized.messages_copy, pseudonymized.users_copy`));
  const after = await reconcile(deps, { apply: true });
  expect(after.leakGuard.hits).toEqual([]);
  expect(after.applied.map((s) => s.sql)).toEqual([`GRANT SELECT ON TABLE "pseudonymized"."category_counts" TO "${gate.roles.pseudonymized}"`]);
  expect((await reconcile(deps)).steps).toEqual([]);
});

test('a leaking column that is also the primary key is pointed at by ctid, so the row id never shows the value', async () => {
  const hits = await wh(async (c) => {
    await c.query('BEGIN');
    try {
      const { rows } = await c.query(`SELECT username FROM pii.users ORDER BY username LIMIT 1`);
      await c.query(`CREATE TABLE pseudonymized.handle_stats (handle text PRIMARY KEY, n int)`);
      await c.query(`INSERT INTO pseudonymized.handle_stats VALUES ($1, 3)`, [rows[0].username]);
      // A view over it has no ctid and no key: the hit still comes, with no row id to leak.
      await c.query(`CREATE VIEW pseudonymized.handle_view AS SELECT handle FROM pseudonymized.handle_stats`);
      const found = await runLeakGuard(c, gate.policy, ['pseudonymized.handle_stats', 'pseudonymized.handle_view']);
      return { found, username: rows[0].username as string };
    } finally {
      await c.query('ROLLBACK');
    }
  });
  expect(hits.found.map((h) => [h.table, h.column, h.rule])).toEqual([
    ['pseudonymized.handle_stats', 'handle', 'username'],
    ['pseudonymized.handle_view', 'handle', 'username'],
  ]);
  expect(hits.found[0]!.rowId).toMatch(/^ctid \(\d+,\d+\)$/);
  expect(hits.found[1]!.rowId).toBeNull();
  expect(JSON.stringify(hits.found)).not.toContain(hits.username);
});
