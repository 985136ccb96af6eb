// The sweep prunes sign-in state past its retention (src/auth/sessions.ts prune): session rows ended
// or expired over a week ago and CLI sign-in rows over a day old and expired go; live and recent
// ones, a code still usable, and a token row whose parent was pruned stay; the live session and
// token keep working. A prune that fails does not stop the other sweeps.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { SESSION_COOKIE } from '../src/auth/oidc.js';
import { sweepAll } from '../src/sweeps.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { deviceToken, signedInBrowser } from './support/personas.js';
import { controlRows } from './support/seed.js';

let gate: TestGate;
beforeAll(async () => {
  gate = await startTestGate({ config: { cliPollSeconds: 1 } });
});
afterAll(async () => {
  await gate?.close();
});

const control = <T,>(sql: string, params: unknown[] = []) => controlRows<T>(gate, sql, params);

/** A session row as the gate writes one, its times as SQL relative to now(). */
async function sessionRow(id: string, t: { created: string; expires: string; ended?: string; kind?: 'browser' | 'token'; parent?: string }) {
  await control(
    `INSERT INTO gate_sessions (id, kind, parent_id, username, subject, email, name, groups, created_at, refresh_due_at, expires_at, ended_at, ended_reason)
     VALUES ($1, $2, $3, 'bob', 'bob', 'bob@example.org', 'Bob', '["fdwg-analysts"]'::jsonb,
             now() + $4::interval, now() + $4::interval, now() + $5::interval, now() + $6::interval, CASE WHEN $6::interval IS NULL THEN NULL ELSE 'logout' END)`,
    [id, t.kind ?? 'browser', t.parent ?? null, t.created, t.expires, t.ended ?? null],
  );
}

async function cliRow(id: string, t: { kind: 'device' | 'loopback'; status: string; created: string; expires: string }) {
  await control(
    `INSERT INTO cli_logins (id, kind, user_code, status, client_name, created_at, expires_at)
     VALUES ($1, $2, CASE WHEN $2 = 'device' THEN upper(substr($1, 1, 9)) END, $3, 'prune test', now() + $4::interval, now() + $5::interval)`,
    [id, t.kind, t.status, t.created, t.expires],
  );
}

const ids = async (table: 'gate_sessions' | 'cli_logins', like: string) =>
  (await control<{ id: string }>(`SELECT id FROM ${table} WHERE id LIKE $1 ORDER BY id`, [like])).map((r) => r.id).sort();

test('the sweep deletes exactly the sign-in rows past their retention; the live session and token keep working', async () => {
  // Live: alice's browser session and a gate token minted through it (which leaves a used device code).
  const alice = await signedInBrowser(gate, 'alice');
  const liveId = createHash('sha256').update(alice.s.cookie('localhost', SESSION_COOKIE)!).digest('hex');
  const token = await deviceToken(gate, alice.s, alice.csrf);
  const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
  const [minted] = await control<{ kind: string; parent_id: string }>(`SELECT kind, parent_id FROM gate_sessions WHERE id = $1`, [jti]);
  expect(minted).toEqual({ kind: 'token', parent_id: liveId });
  const [freshDevice] = await control<{ id: string }>(`SELECT id FROM cli_logins WHERE session_id = $1`, [liveId]);
  expect(freshDevice).toBeDefined();

  await sessionRow('prune-s-ended-8d', { created: '-8 days -1 hour', expires: '-7 days -13 hours', ended: '-8 days' });
  // Signed out 8 days ago: its token ended with it, in the same statement's time.
  await sessionRow('prune-s-ended-8d-token', { kind: 'token', parent: 'prune-s-ended-8d', created: '-8 days -2 hours', expires: '-7 days -14 hours', ended: '-8 days' });
  await sessionRow('prune-s-ended-1h', { created: '-2 hours', expires: '10 hours', ended: '-1 hour' });
  await sessionRow('prune-s-expired-8d', { created: '-8 days -12 hours', expires: '-8 days' });
  // Kept: 6 days is inside the week.
  await sessionRow('prune-s-expired-6d', { created: '-6 days -12 hours', expires: '-6 days' });
  // The parent expired just over a week ago and goes; the token minted an hour before that expired
  // 11 hours later, inside the week, and stays: nothing needs its parent any more.
  await sessionRow('prune-s-parent-7d1h', { created: '-7 days -13 hours', expires: '-7 days -1 hour' });
  await sessionRow('prune-s-orphan-token', { kind: 'token', parent: 'prune-s-parent-7d1h', created: '-7 days -2 hours', expires: '-6 days -14 hours' });

  await cliRow('prune-c-used-2d', { kind: 'device', status: 'used', created: '-2 days', expires: '-2 days +10 minutes' });
  await cliRow('prune-c-approved-25h', { kind: 'loopback', status: 'approved', created: '-25 hours', expires: '-25 hours +2 minutes' });
  await cliRow('prune-c-pending-25h', { kind: 'device', status: 'pending', created: '-25 hours', expires: '-25 hours +10 minutes' });
  await cliRow('prune-c-expired-1h', { kind: 'device', status: 'pending', created: '-1 hour', expires: '-50 minutes' });
  // Older than a day but (were its lifetime ever longer) still usable: never deleted.
  await cliRow('prune-c-usable-2d', { kind: 'device', status: 'pending', created: '-2 days', expires: '5 minutes' });

  const run = await sweepAll(gate.services);
  expect(run.failures).toEqual([]);
  expect(run.leases.status).toBe('fulfilled');
  expect(run.grants.status).toBe('fulfilled');
  expect(run.pruned).toEqual({ status: 'fulfilled', value: { sessions: 4, cliLogins: 3 } });

  expect(await ids('gate_sessions', 'prune-s-%')).toEqual(['prune-s-ended-1h', 'prune-s-expired-6d', 'prune-s-orphan-token'].sort());
  expect(await control(`SELECT id FROM gate_sessions WHERE id = ANY($1)`, [[liveId, jti]])).toHaveLength(2);
  expect(await ids('cli_logins', 'prune-c-%')).toEqual(['prune-c-expired-1h', 'prune-c-usable-2d'].sort());
  expect(await control(`SELECT id FROM cli_logins WHERE id = $1`, [freshDevice!.id])).toHaveLength(1);

  // The kept token whose parent was pruned still explains itself.
  expect(await gate.services.sessions.whyEnded('prune-s-orphan-token')).toBe('the token has expired');

  // The live session and the live token still get in.
  const viaCookie = await alice.s.request(`${gate.url}/api/me`);
  expect(viaCookie.status).toBe(200);
  expect(((await viaCookie.json()) as { username: string }).username).toBe('alice');
  const viaToken = await fetch(`${gate.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
  expect(viaToken.status).toBe(200);
  expect(((await viaToken.json()) as { username: string }).username).toBe('alice');

  // Nothing left to prune: a second run deletes nothing.
  const again = await sweepAll(gate.services);
  expect(again.pruned).toEqual({ status: 'fulfilled', value: { sessions: 0, cliLogins: 0 } });
});

test('a prune that fails is reported and the other sweeps still run', async () => {
  const login = decodeURIComponent(new URL(gate.controlUrl).username);
  await sessionRow('prune-f-expired-8d', { created: '-8 days -12 hours', expires: '-8 days' });
  // A real refusal from PostgreSQL: the gate's login loses DELETE on the sessions table.
  await control(`REVOKE DELETE ON gate_sessions FROM "${login.replace(/"/g, '""')}"`);
  try {
    const run = await sweepAll(gate.services);
    expect(run.pruned.status).toBe('rejected');
    expect(run.leases.status).toBe('fulfilled');
    expect(run.grants.status).toBe('fulfilled');
    expect(run.failures).toHaveLength(1);
    expect(String((run.failures[0] as Error).message ?? run.failures[0])).toMatch(/permission denied|gate_sessions/);
  } finally {
    await control(`GRANT DELETE ON gate_sessions TO "${login.replace(/"/g, '""')}"`);
  }
  expect(await ids('gate_sessions', 'prune-f-%')).toEqual(['prune-f-expired-8d']);
  const run = await sweepAll(gate.services);
  expect(run.failures).toEqual([]);
  expect(await ids('gate_sessions', 'prune-f-%')).toEqual([]);
});
