// The access log is append-only for the gate's own login, and for the table owner too.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { appendAudit } from '../src/audit/log.js';
import { controlDb } from '../src/db/client.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { withClient } from './support/pg.js';

let gate: TestGate;
beforeAll(async () => {
  gate = await startTestGate({ demoMessages: 200 });
  // One real event to aim at, written the way the gate writes them.
  await controlDb(gate.controlPool).transaction((tx) => appendAudit(tx, { action: 'login', actor: 'alice', subject: 'alice' }));
});
afterAll(async () => {
  await gate?.close();
});

test('the gate login owns nothing in the control database and is not a superuser', async () => {
  await withClient(gate.controlAdminUrl, async (c) => {
    const { rows } = await c.query(
      `SELECT count(*)::int AS n FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
        WHERE r.rolname = $1 AND c.relnamespace = 'public'::regnamespace`,
      [gate.roles.gate],
    );
    expect(rows[0].n).toBe(0);
  });
});

test('UPDATE, DELETE and TRUNCATE of audit_events fail for the gate login', async () => {
  await withClient(gate.controlUrl, async (c) => {
    expect((await c.query('SELECT count(*)::int AS n FROM audit_events')).rows[0].n).toBeGreaterThan(0);
    await expect(c.query(`UPDATE audit_events SET actor = 'mallory'`)).rejects.toMatchObject({ code: '42501' });
    await expect(c.query('DELETE FROM audit_events')).rejects.toMatchObject({ code: '42501' });
    await expect(c.query('TRUNCATE audit_events')).rejects.toMatchObject({ code: '42501' });
    await expect(c.query('DROP TRIGGER audit_events_no_update_delete ON audit_events')).rejects.toMatchObject({ code: '42501' });
  });
});

test('even the table owner cannot UPDATE, DELETE or TRUNCATE (the trigger refuses)', async () => {
  await withClient(gate.controlAdminUrl, async (c) => {
    await c.query(`SET ROLE ${gate.roles.controlOwner}`);
    for (const sql of [`UPDATE audit_events SET actor = 'x'`, 'DELETE FROM audit_events', 'TRUNCATE audit_events CASCADE']) {
      await expect(c.query(sql)).rejects.toThrow(/append-only/);
    }
  });
});
