// The PII grant on Debian's PostgreSQL 15, which has no `WITH SET FALSE`: the fallback is a plain
// GRANT, so an analyst's session can `SET ROLE` into the dataset role, and a session that did would
// keep the group's privileges after a REVOKE. Ending access therefore always terminates the
// analyst's sessions; this shows that the SET ROLE session is gone too.
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { datasetRole } from '../src/provisioner/roles.js';
import { type DebianPostgres, startDebianPostgres } from './support/debian-pg.js';
import { type TestGate, analystClient, startGateOn } from './support/gate-core.js';
import { HttpSession, signIn } from './support/http-session.js';

let cluster: DebianPostgres;
let gate: TestGate;

beforeAll(async () => {
  cluster = await startDebianPostgres();
  gate = await startGateOn(cluster.superuserUrl, { demoMessages: 200 });
}, 60_000);
afterAll(async () => {
  await gate?.close();
  await cluster?.stop();
});

async function session(who: string) {
  const s = new HttpSession();
  await signIn(s, gate.url, who, `${who}-demo`);
  return async (method: string, path: string, body?: unknown) => {
    const res = await s.request(`${gate.url}/api${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, data: (await res.json()) as any };
  };
}

test('PG15: approval grants the dataset on the live session; relinquish ends even a session that did SET ROLE', async () => {
  const alice = await session('alice');
  const bob = await session('bob');
  expect((await alice('POST', '/agreement', { version: gate.policy.agreement.version })).status).toBe(200);
  const cred = (await alice('POST', '/credentials', {})).data;
  const c = analystClient(gate, cred.role, cred.password);
  c.on('error', () => {});
  await c.connect();
  try {
    expect((await c.query(`SELECT current_setting('server_version_num')::int AS v`)).rows[0].v).toBeLessThan(160000);
    await expect(c.query('SELECT count(*) FROM pii.users')).rejects.toMatchObject({ code: '42501' });
    const created = await alice('POST', '/requests', {
      datasets: ['maintainer_identities'],
      purpose: 'Join the maintainer roster to pseudonyms for the PG15 check of the gate.',
      durationSeconds: 3600,
    });
    expect(created.status).toBe(201);
    const decided = await bob('POST', `/requests/${created.data.id}/reviews`, { decision: 'approve' });
    expect(decided.status, JSON.stringify(decided.data)).toBe(200);
    expect((await c.query('SELECT count(*)::int AS n FROM pii.users')).rows[0].n).toBeGreaterThan(0);
    // The documented fallback: without SET FALSE the session can assume the group...
    await c.query(`SET ROLE ${c.escapeIdentifier(datasetRole(gate.prefix, 'maintainer_identities'))}`);
    const gone = await alice('POST', `/requests/${created.data.id}/relinquish`);
    expect(gone.status).toBe(200);
    // ...so ending access terminates it rather than trusting the REVOKE alone.
    await expect(c.query('SELECT count(*) FROM pii.users')).rejects.toThrow();
  } finally {
    await c.end().catch(() => {});
  }
  const fresh = new pg.Client({ ...gate.config.analystDb, user: cred.role, password: cred.password });
  await fresh.connect();
  try {
    await expect(fresh.query('SELECT count(*) FROM pii.users')).rejects.toMatchObject({ code: '42501' });
  } finally {
    await fresh.end();
  }
}, 40_000);
