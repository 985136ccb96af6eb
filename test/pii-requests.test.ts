// The PII tier end to end over HTTP: real OIDC sign-ins (alice analyst; bob and dave approvers;
// erin admin), real PostgreSQL, live analyst sessions held open with `pg` the way psql holds them.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { controlDb } from '../src/db/client.js';
import { GrantSweeper } from '../src/requests/grant-sweeper.js';
import { datasetRole } from '../src/provisioner/roles.js';
import { type ApiContract, apiContract } from './support/api-contract.js';
import { expectChainIntact } from './support/audit.js';
import { controlRows } from './support/seed.js';
import { type TestGate, analystClient, startTestGate } from './support/gate.js';
import { HttpSession, signIn } from './support/http-session.js';
import { withClient } from './support/pg.js';

let gate: TestGate;
/** Every JSON answer below is checked against its documented schema (test/openapi.test.ts). */
let contract: ApiContract;
const s: Record<string, HttpSession> = {};
let aliceRole = '';
let alicePassword = '';

const PURPOSE_IDS = 'Join the FDWG maintainer roster to pseudonyms for the 2026 activity report.';
const PURPOSE_TEXT =
  'Classify update comments by topic for the FDWG tooling survey; we need the text itself because the pseudonymized tier has none.';

const json = (method: string, body?: unknown): RequestInit => ({
  method,
  headers: body === undefined ? {} : { 'content-type': 'application/json' },
  body: body === undefined ? undefined : JSON.stringify(body),
});

async function api(who: string, method: string, path: string, body?: unknown) {
  const res = await s[who]!.request(`${gate.url}/api${path}`, json(method, body));
  return { status: res.status, data: contract.check(method, `/api${path}`, res.status, (await res.json()) as any) };
}

const ask = (who: string, datasets: string[], purpose: string, durationSeconds = 3600) =>
  api(who, 'POST', '/requests', { datasets, purpose, durationSeconds });
const decide = (who: string, id: number, decision: 'approve' | 'deny', comment?: string) =>
  api(who, 'POST', `/requests/${id}/reviews`, comment === undefined ? { decision } : { decision, comment });

const control = <T = any,>(text: string, params: unknown[] = []) => controlRows<T>(gate, text, params);
const events = (requestId: number, action?: string) =>
  control(`SELECT * FROM audit_events WHERE request_id = $1 ${action ? 'AND action = $2' : ''} ORDER BY id`, action ? [requestId, action] : [requestId]);
/**
 * Refusals are coalesced per person, action and minute (test/access-denied.test.ts): moves
 * `actor`'s counted review refusals back a day, so that the next one is an event of its own.
 */
const freshMinute = (actor: string) =>
  control(`UPDATE access_denials SET minute = minute - interval '1 day' WHERE actor = $1 AND action = 'requests.review'`, [actor]);
const grantsOf = (requestId: number) => control(`SELECT * FROM pii_grants WHERE request_id = $1 ORDER BY id`, [requestId]);
const outbox = (requestId: number) =>
  control<{ event: string }>(`SELECT event, payload FROM webhook_outbox WHERE (payload->>'requestId')::int = $1 ORDER BY id`, [requestId]);

async function live(): Promise<pg.Client> {
  const c = analystClient(gate, aliceRole, alicePassword);
  c.on('error', () => {});
  await c.connect();
  return c;
}

async function expectPgError(p: Promise<unknown>, code: string) {
  await expect(p).rejects.toMatchObject({ code });
}

const readUsers = (c: pg.Client) => c.query('SELECT count(*)::int AS n FROM pii.users');

/** Approves a 1-approval request for alice and returns its id (with its live grant). */
async function grantedToAlice(durationSeconds = 3600): Promise<number> {
  const created = await ask('alice', ['maintainer_identities'], PURPOSE_IDS, durationSeconds);
  expect(created.status, JSON.stringify(created.data)).toBe(201);
  const decided = await decide('bob', created.data.id, 'approve');
  expect(decided.status, JSON.stringify(decided.data)).toBe(200);
  return created.data.id;
}

beforeAll(async () => {
  gate = await startTestGate();
  contract = apiContract(gate);
  for (const who of ['alice', 'bob', 'dave', 'erin', 'mallory', 'carol']) {
    s[who] = new HttpSession();
    await signIn(s[who]!, gate.url, who, `${who}-demo`);
  }
  for (const who of ['alice', 'bob']) {
    expect((await api(who, 'POST', '/agreement', { version: gate.policy.agreement.version })).status).toBe(200);
  }
  const cred = await api('alice', 'POST', '/credentials', {});
  expect(cred.status).toBe(201);
  aliceRole = cred.data.role;
  alicePassword = cred.data.password;
}, 60_000);

afterAll(async () => {
  await gate?.close();
});

describe('asking', () => {
  test('the datasets and their rules come from the policy', async () => {
    const { status, data } = await api('alice', 'GET', '/datasets');
    expect(status).toBe(200);
    expect(data.datasets.map((d: any) => [d.name, d.tables, d.maxDurationSeconds, d.approvalsRequired, d.minPurposeLength])).toEqual([
      ['maintainer_identities', ['pii.users'], 30 * 86400, 1, 40],
      ['message_text', ['pii.message_text'], 7 * 86400, 2, 80],
    ]);
  });

  test('an unknown dataset, a short purpose, an over-long duration or a malformed body is a 400 with a reason', async () => {
    const cases: [unknown, RegExp][] = [
      [{ datasets: ['everything'], purpose: PURPOSE_IDS, durationSeconds: 3600 }, /Unknown dataset: "everything"/],
      [{ datasets: ['maintainer_identities'], purpose: 'because', durationSeconds: 3600 }, /at least 40 characters/],
      // The strictest dataset of the request decides: message_text wants 80 characters.
      [{ datasets: ['maintainer_identities', 'message_text'], purpose: PURPOSE_IDS, durationSeconds: 3600 }, /at least 80 characters/],
      [{ datasets: ['maintainer_identities'], purpose: PURPOSE_IDS, durationSeconds: 30 * 86400 + 1 }, /longer than maintainer_identities allows/],
      [{ datasets: ['message_text'], purpose: PURPOSE_TEXT, durationSeconds: 8 * 86400 }, /longer than message_text allows/],
      [{ datasets: [], purpose: PURPOSE_IDS, durationSeconds: 3600 }, /datasets: at least one dataset/],
      [{ datasets: ['maintainer_identities'], purpose: PURPOSE_IDS, durationSeconds: 'a week' }, /durationSeconds/],
      [{ datasets: ['maintainer_identities'], purpose: PURPOSE_IDS, durationSeconds: 3600, approver: 'alice' }, /Invalid request/],
    ];
    for (const [body, reason] of cases) {
      const { status, data } = await api('alice', 'POST', '/requests', body);
      expect(status, JSON.stringify(body)).toBe(400);
      expect(data.error.code).toBe('bad_request');
      expect(data.error.message).toMatch(reason);
    }
    expect(await control(`SELECT * FROM pii_requests`)).toEqual([]);
  });

  test('only admitted members may ask: an outsider, an auditor and a member without the agreement are refused', async () => {
    expect((await ask('mallory', ['maintainer_identities'], PURPOSE_IDS)).data.error.code).toBe('not_admitted');
    expect((await ask('carol', ['maintainer_identities'], PURPOSE_IDS)).data.error.code).toBe('not_admitted');
    const dave = await ask('dave', ['maintainer_identities'], PURPOSE_IDS);
    expect([dave.status, dave.data.error.code]).toEqual([403, 'agreement_required']);
  });

  test('a non-approver cannot see the queue or decide', async () => {
    expect((await api('alice', 'GET', '/approvals')).status).toBe(403);
    expect((await api('carol', 'GET', '/approvals')).status).toBe(403);
  });

  test('an auditor who is also in the approver group still cannot decide (separation of duties)', async () => {
    gate.issuer.setAccountGroups('carol', ['fdwg-auditors', 'fdwg-approvers']);
    try {
      const both = new HttpSession();
      await signIn(both, gate.url, 'carol', 'carol-demo');
      const queue = await both.request(`${gate.url}/api/approvals`);
      expect(queue.status).toBe(403);
      const vote = await both.request(`${gate.url}/api/requests/1/reviews`, json('POST', { decision: 'approve' }));
      expect(vote.status).toBe(403);
      // The auditor role itself stands.
      expect((await both.request(`${gate.url}/api/audit/events?limit=1`)).status).toBe(200);
    } finally {
      gate.issuer.setAccountGroups('carol', ['fdwg-auditors']);
    }
  });
});

describe('granting', () => {
  let requestId = 0;

  test('before approval a PII select is denied; after approval it works on the same live session, without a new password', async () => {
    const c = await live();
    try {
      await expectPgError(readUsers(c), '42501');
      const created = await ask('alice', ['maintainer_identities'], `  ${PURPOSE_IDS}  `, 3600);
      expect(created.status).toBe(201);
      requestId = created.data.id;
      expect(created.data).toMatchObject({ state: 'pending', datasets: ['maintainer_identities'], purpose: PURPOSE_IDS, approvalsRequired: 1, approvals: 0 });
      // Still pending: still denied.
      await expectPgError(readUsers(c), '42501');

      const queue = await api('bob', 'GET', '/approvals');
      expect(queue.status).toBe(200);
      const item = queue.data.pending.find((p: any) => p.id === requestId);
      expect(item).toMatchObject({ analyst: 'alice', purpose: PURPOSE_IDS, durationSeconds: 3600, decidable: true });

      const decided = await decide('bob', requestId, 'approve', 'ok for the report');
      expect(decided.status).toBe(200);
      expect(decided.data.final).toBe(true);
      expect(decided.data.request.state).toBe('approved');
      const [grant] = decided.data.request.grants;
      expect(grant).toMatchObject({ dataset: 'maintainer_identities', live: true });
      expect(new Date(grant.expiresAt).getTime() - new Date(grant.startsAt).getTime()).toBe(3600_000);

      const { rows } = await readUsers(c);
      expect(rows[0].n).toBeGreaterThan(0);
      // Usable through membership, never assumable.
      await expectPgError(c.query(`SET ROLE ${c.escapeIdentifier(datasetRole(gate.prefix, 'maintainer_identities'))}`), '42501');
      await expectPgError(c.query('SELECT count(*) FROM pii.message_text'), '42501');
    } finally {
      await c.end();
    }
    const membership = await withClient(gate.warehouseAdminUrl, async (w) =>
      (await w.query(
        `SELECT m.inherit_option, m.set_option, m.admin_option FROM pg_auth_members m
           JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
          WHERE r.rolname = $1 AND u.rolname = $2`,
        [datasetRole(gate.prefix, 'maintainer_identities'), aliceRole],
      )).rows,
    );
    expect(membership).toEqual([{ inherit_option: true, set_option: false, admin_option: false }]);
  });

  test('each step is audited with the request id, dataset and purpose, and announced through the outbox', async () => {
    const rows = await events(requestId);
    expect(rows.map((r) => [r.action, r.actor, r.subject, r.dataset])).toEqual([
      ['request.created', 'alice', 'alice', 'maintainer_identities'],
      ['request.approved', 'bob', 'alice', 'maintainer_identities'],
      ['pii.granted', 'bob', 'alice', 'maintainer_identities'],
    ]);
    for (const r of rows) expect(r.details.purpose).toBe(PURPOSE_IDS);
    expect(rows[1].details).toMatchObject({ approvals: 1, required: 1, final: true, comment: 'ok for the report' });
    const [grant] = await grantsOf(requestId);
    expect(rows[2].details).toMatchObject({ grantId: grant.id, expiresAt: grant.expires_at.toISOString() });
    expect((await outbox(requestId)).map((o) => o.event)).toEqual(['request.created', 'request.decided']);
  });

  test('the analyst sees it; a second request for a dataset already granted is a 409', async () => {
    const mine = await api('alice', 'GET', '/requests');
    expect(mine.data.requests[0]).toMatchObject({ id: requestId, state: 'approved', decidedBy: 'bob' });
    const again = await ask('alice', ['maintainer_identities'], PURPOSE_IDS);
    expect(again.status).toBe(409);
    expect(again.data.error.message).toMatch(/live access until/);
  });

  test('deciding a request that is already decided fails cleanly (409) and grants nothing more', async () => {
    const late = await decide('dave', requestId, 'approve');
    expect(late.status).toBe(409);
    expect(late.data.error.details.state).toBe('approved');
    expect(await grantsOf(requestId)).toHaveLength(1);
  });

  test('at expiry the sweeper revokes the membership and ends the live session (not late)', async () => {
    const c = await live();
    await readUsers(c);
    const [grant] = await grantsOf(requestId);
    const atExpiry = new GrantSweeper(controlDb(gate.controlPool), gate.services.provisioner, gate.policy, 120_000, () => new Date(grant.expires_at.getTime() + 1000));
    const swept = await atExpiry.sweep();
    expect(swept).toMatchObject({ expired: 1 });
    expect(swept.sessionsEnded).toBeGreaterThanOrEqual(1);
    await expect(c.query('SELECT 1')).rejects.toThrow();
    await c.end().catch(() => {});
    const fresh = await live();
    try {
      await expectPgError(readUsers(fresh), '42501');
    } finally {
      await fresh.end();
    }
    const [ended] = await grantsOf(requestId);
    expect(ended).toMatchObject({ end_reason: 'expired', ended_by: 'system:sweeper' });
    const [revoked] = await events(requestId, 'pii.revoked');
    expect(revoked).toMatchObject({ actor: 'system:sweeper', subject: 'alice', dataset: 'maintainer_identities' });
    expect(revoked.details).toMatchObject({ reason: 'expired', purpose: PURPOSE_IDS, grantId: grant.id });
    expect(revoked.details.sessionsEnded).toBeGreaterThanOrEqual(1);
    expect(revoked.details.late).toBeUndefined();
    expect((await outbox(requestId)).map((o) => o.event).at(-1)).toBe('access.ended');
    expect((await atExpiry.sweep()).expired).toBe(0);
  });
});

describe('the rules of deciding', () => {
  test('self-approval is refused (403) and on the access log, even for an approver; another approver can decide', async () => {
    const created = await ask('bob', ['maintainer_identities'], PURPOSE_IDS);
    expect(created.status).toBe(201);
    const id = created.data.id;
    await freshMinute('bob');
    const own = await decide('bob', id, 'approve');
    expect(own.status).toBe(403);
    expect(own.data.error).toMatchObject({ code: 'forbidden', message: 'You cannot decide your own request, even as an approver.' });
    const refused = await events(id, 'access.denied');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ actor: 'bob', subject: 'bob', dataset: null });
    expect(refused[0].details).toMatchObject({
      attempted: 'requests.review',
      code: 'forbidden',
      reason: 'self-approval: nobody decides their own request',
      requestId: id,
    });
    expect(await grantsOf(id)).toEqual([]);
    const queue = await api('bob', 'GET', '/approvals');
    expect(queue.data.pending.find((p: any) => p.id === id)).toMatchObject({ decidable: false });

    // Deny ends it with the comment; nothing is granted.
    const denied = await decide('dave', id, 'deny', 'use the pseudonymized tier');
    expect(denied.status).toBe(200);
    expect(denied.data.request).toMatchObject({ state: 'denied', decidedBy: 'dave', decisionComment: 'use the pseudonymized tier' });
    expect(await grantsOf(id)).toEqual([]);
    expect((await events(id)).map((e) => e.action)).toEqual(['request.created', 'access.denied', 'request.denied']);
  });

  test('a 2-approval dataset needs two distinct approvers; then relinquish ends it early', async () => {
    const created = await ask('alice', ['message_text'], PURPOSE_TEXT, 86400);
    expect(created.status).toBe(201);
    const id = created.data.id;
    expect(created.data.approvalsRequired).toBe(2);
    const c = await live();
    try {
      const first = await decide('bob', id, 'approve');
      expect(first.data).toMatchObject({ final: false, request: { state: 'pending', approvals: 1 } });
      await expectPgError(c.query('SELECT count(*) FROM pii.message_text'), '42501');
      // The same approver twice is still one approval: refused, on the access log.
      await freshMinute('bob');
      const twice = await decide('bob', id, 'approve');
      expect(twice.status).toBe(409);
      expect(twice.data.error).toMatchObject({ code: 'conflict', message: `You have already reviewed request #${id}; it needs another approver.` });
      const [again] = await events(id, 'access.denied');
      expect(again).toMatchObject({ actor: 'bob', subject: 'bob' });
      expect(again.details).toMatchObject({ attempted: 'requests.review', code: 'conflict', reason: 'a second vote by the same approver', requestId: id });
      // Still one vote of bob's.
      expect(await control(`SELECT reviewer FROM pii_request_reviews WHERE request_id = $1`, [id])).toEqual([{ reviewer: 'bob' }]);
      expect(await grantsOf(id)).toEqual([]);
      // An admin who is not an approver has no vote.
      expect((await decide('erin', id, 'approve')).status).toBe(403);

      const second = await decide('dave', id, 'approve');
      expect(second.data).toMatchObject({ final: true, request: { state: 'approved', approvals: 2 } });
      expect((await c.query('SELECT count(*)::int AS n FROM pii.message_text')).rows[0].n).toBeGreaterThan(0);
      const approved = await events(id, 'request.approved');
      expect(approved.map((e) => [e.actor, e.details.approvals, e.details.final])).toEqual([
        ['bob', 1, false],
        ['dave', 2, true],
      ]);

      expect((await api('bob', 'POST', `/requests/${id}/relinquish`)).status).toBe(404);
      const gone = await api('alice', 'POST', `/requests/${id}/relinquish`);
      expect(gone.status).toBe(200);
      expect(gone.data.grants[0]).toMatchObject({ live: false, endReason: 'relinquished', endedBy: 'alice' });
      await expect(c.query('SELECT 1')).rejects.toThrow();
    } finally {
      await c.end().catch(() => {});
    }
    const fresh = await live();
    try {
      await expectPgError(fresh.query('SELECT count(*) FROM pii.message_text'), '42501');
    } finally {
      await fresh.end();
    }
    expect((await api('alice', 'POST', `/requests/${id}/relinquish`)).status).toBe(409);
    const [revoked] = await events(id, 'pii.revoked');
    expect(revoked).toMatchObject({ actor: 'alice', dataset: 'message_text' });
    expect(revoked.details).toMatchObject({ reason: 'relinquished', purpose: PURPOSE_TEXT });
  });

  test('a membership a DBA granted by hand survives the end of the grant: the revocation says so, it does not pretend', async () => {
    const id = await grantedToAlice();
    const group = datasetRole(gate.prefix, 'maintainer_identities');
    await withClient(gate.warehouseAdminUrl, (c) => c.query(`GRANT ${c.escapeIdentifier(group)} TO ${c.escapeIdentifier(aliceRole)}`));
    try {
      expect((await api('alice', 'POST', `/requests/${id}/relinquish`)).status).toBe(200);
      const [revoked] = await events(id, 'pii.revoked');
      expect(revoked.details).toMatchObject({ reason: 'relinquished', membershipRemains: true });
      // The truth in PostgreSQL: the hand grant still reads.
      const c = await live();
      try {
        expect((await readUsers(c)).rows[0].n).toBeGreaterThan(0);
      } finally {
        await c.end();
      }
      // And the reconciler names it for a DBA.
      const plan = await gate.services.reconciler.plan();
      expect(plan.steps.map((x) => x.reason)).toContainEqual(expect.stringMatching(new RegExp(`member of ${group} without a live grant`)));
    } finally {
      await withClient(gate.warehouseAdminUrl, (c) => c.query(`REVOKE ${c.escapeIdentifier(group)} FROM ${c.escapeIdentifier(aliceRole)}`));
    }
  });

  test('two approvers racing on the last approval give exactly one grant and one refusal (3 rounds); early revoke ends each', async () => {
    for (const [round, revoker] of [[1, 'erin'], [2, 'bob'], [3, 'dave']] as const) {
      const created = await ask('alice', ['maintainer_identities'], PURPOSE_IDS);
      expect(created.status, `round ${round}`).toBe(201);
      const id = created.data.id;
      const results = await Promise.all([decide('bob', id, 'approve'), decide('dave', id, 'approve')]);
      expect(results.map((r) => r.status).sort(), `round ${round}`).toEqual([200, 409]);
      expect(results.find((r) => r.status === 409)!.data.error.details.state).toBe('approved');
      const grants = await grantsOf(id);
      expect(grants).toHaveLength(1);
      expect(await events(id, 'pii.granted')).toHaveLength(1);
      expect(await events(id, 'request.approved')).toHaveLength(1);

      const c = await live();
      await readUsers(c);
      const revoked = await api(revoker, 'POST', `/grants/${grants[0].id}/revoke`, { comment: `round ${round}` });
      expect(revoked.status, JSON.stringify(revoked.data)).toBe(200);
      expect(revoked.data).toMatchObject({ live: false, endReason: 'revoked', endedBy: revoker });
      await expect(c.query('SELECT 1')).rejects.toThrow();
      await c.end().catch(() => {});
      const [event] = await events(id, 'pii.revoked');
      expect(event).toMatchObject({ actor: revoker });
      expect(event.details).toMatchObject({ reason: 'revoked', comment: `round ${round}` });
      expect((await api(revoker, 'POST', `/grants/${grants[0].id}/revoke`, {})).status).toBe(409);
    }
    expect((await api('alice', 'POST', '/grants/1/revoke', {})).status).toBe(403);
    expect((await api('erin', 'POST', '/grants/999999/revoke', {})).status).toBe(404);
  });

  test('two approvals racing on a 2-approval request both count: no lost decision, one grant', async () => {
    const id = (await ask('alice', ['message_text'], PURPOSE_TEXT, 3600)).data.id;
    const results = await Promise.all([decide('bob', id, 'approve'), decide('dave', id, 'approve')]);
    expect(results.map((r) => r.status)).toEqual([200, 200]);
    expect(results.map((r) => r.data.final).sort()).toEqual([false, true]);
    expect(await grantsOf(id)).toHaveLength(1);
    expect((await control(`SELECT reviewer FROM pii_request_reviews WHERE request_id = $1 ORDER BY reviewer`, [id])).map((r) => r.reviewer)).toEqual(['bob', 'dave']);
    expect((await api('alice', 'POST', `/requests/${id}/relinquish`)).status).toBe(200);
  });

  test('withdraw ends a pending request; deciding it afterwards is a 409; others cannot withdraw it', async () => {
    const created = await ask('alice', ['maintainer_identities'], PURPOSE_IDS);
    const id = created.data.id;
    expect((await api('bob', 'POST', `/requests/${id}/withdraw`)).status).toBe(404);
    const w = await api('alice', 'POST', `/requests/${id}/withdraw`);
    expect(w.status).toBe(200);
    expect(w.data).toMatchObject({ state: 'withdrawn', decidedBy: 'alice' });
    expect((await api('alice', 'POST', `/requests/${id}/withdraw`)).status).toBe(409);
    const late = await decide('bob', id, 'approve');
    expect([late.status, late.data.error.details.state]).toEqual([409, 'withdrawn']);
    expect(await grantsOf(id)).toEqual([]);
    expect((await events(id)).map((e) => e.action)).toEqual(['request.created', 'request.withdrawn']);
    expect((await outbox(id)).map((o) => o.event)).toEqual(['request.created', 'request.decided']);
  });

  test('unknown or malformed ids are 404 or 400', async () => {
    expect((await decide('bob', 999999, 'approve')).status).toBe(404);
    expect((await api('bob', 'POST', '/requests/abc/reviews', { decision: 'approve' })).status).toBe(400);
    expect((await api('bob', 'POST', '/requests/1/reviews', { decision: 'maybe' })).status).toBe(400);
    expect((await api('alice', 'POST', '/requests/999999/withdraw')).status).toBe(404);
  });
});

describe('the sweeper', () => {
  test('a request nobody decided within the review window expires; approving it then is a 409', async () => {
    const a = (await ask('alice', ['maintainer_identities'], PURPOSE_IDS)).data.id;
    await control(`UPDATE pii_requests SET review_deadline = now() - interval '1 minute' WHERE id = $1`, [a]);
    const swept = await gate.services.grantSweeper.sweep();
    expect(swept.requestsExpired).toBe(1);
    expect((await control(`SELECT state, decided_by FROM pii_requests WHERE id = $1`, [a]))[0]).toEqual({ state: 'expired', decided_by: 'system:sweeper' });
    expect((await events(a, 'request.expired'))[0]).toMatchObject({ actor: 'system:sweeper', dataset: 'maintainer_identities' });
    expect((await decide('bob', a, 'approve')).status).toBe(409);

    // Past its window but not swept yet: a decision still finds it expired.
    const b = (await ask('alice', ['maintainer_identities'], PURPOSE_IDS)).data.id;
    await control(`UPDATE pii_requests SET review_deadline = now() - interval '1 minute' WHERE id = $1`, [b]);
    const late = await decide('bob', b, 'approve');
    expect([late.status, late.data.error.details.state]).toEqual([409, 'expired']);
    expect((await control(`SELECT state FROM pii_requests WHERE id = $1`, [b]))[0].state).toBe('expired');
    expect(await grantsOf(b)).toEqual([]);
  });

  test('"expiring soon" is announced once per grant', async () => {
    const id = await grantedToAlice(2 * 3600);
    // Nothing to say for a grant shorter than the notice window.
    await control(`UPDATE pii_grants SET expires_at = now() + interval '30 minutes' WHERE request_id = $1`, [id]);
    expect((await gate.services.grantSweeper.sweep()).warned).toBe(0);
    // A 2-hour grant 90 minutes in: its end is within the hour.
    await control(`UPDATE pii_grants SET starts_at = now() - interval '90 minutes' WHERE request_id = $1`, [id]);
    expect((await gate.services.grantSweeper.sweep()).warned).toBe(1);
    expect((await gate.services.grantSweeper.sweep()).warned).toBe(0);
    expect((await outbox(id)).filter((o) => o.event === 'grant.expiring_soon')).toHaveLength(1);
    expect((await grantsOf(id))[0].warned_at).not.toBeNull();
    expect((await api('alice', 'POST', `/requests/${id}/relinquish`)).status).toBe(200);
  });

  test('after a simulated outage, a grant whose window passed is revoked at the next sweep and audited as late', async () => {
    const id = await grantedToAlice();
    const c = await live();
    await readUsers(c);
    // The gate was down for an hour past the grant's end.
    await control(`UPDATE pii_grants SET expires_at = now() - interval '1 hour' WHERE request_id = $1`, [id]);
    const swept = await gate.services.grantSweeper.sweep();
    expect(swept.expired).toBe(1);
    await expect(c.query('SELECT 1')).rejects.toThrow();
    await c.end().catch(() => {});
    const [event] = await events(id, 'pii.revoked');
    expect(event.details).toMatchObject({ reason: 'expired', late: true });
    expect(event.details.lateBySeconds).toBeGreaterThan(3500);
    const fresh = await live();
    try {
      await expectPgError(readUsers(fresh), '42501');
    } finally {
      await fresh.end();
    }
  });

  test('two sweepers at once revoke each of 40 expired grants exactly once', async () => {
    const group = datasetRole(gate.prefix, 'maintainer_identities');
    const roles = Array.from({ length: 40 }, (_, i) => `${gate.prefix}sw_${i}`);
    // Stand-in analysts made as superuser: roles with the membership, rows whose window has passed.
    await withClient(gate.warehouseAdminUrl, async (w) => {
      for (const r of roles) await w.query(`CREATE ROLE ${w.escapeIdentifier(r)} NOLOGIN`);
      await w.query(`GRANT ${w.escapeIdentifier(group)} TO ${roles.map((r) => w.escapeIdentifier(r)).join(', ')} GRANTED BY ${w.escapeIdentifier(gate.roles.gate)}`);
    });
    await control(
      `WITH a AS (INSERT INTO analysts (username, subject, role_name) SELECT 'sw' || i, 'sub-sw' || i, $1 || 'sw_' || i FROM generate_series(0, 39) i RETURNING id, role_name),
            r AS (INSERT INTO pii_requests (analyst_id, datasets, purpose, duration_seconds, state, review_deadline, approvals_required)
                  SELECT id, '{maintainer_identities}', 'sweeper test', 60, 'approved', now(), 1 FROM a RETURNING id, analyst_id)
       INSERT INTO pii_grants (request_id, analyst_id, role_name, dataset, group_role, starts_at, expires_at)
       SELECT r.id, a.id, a.role_name, 'maintainer_identities', $2, now() - interval '2 minutes', now() - interval '1 minute'
         FROM r JOIN a ON a.id = r.analyst_id`,
      [gate.prefix, group],
    );
    const one = new GrantSweeper(controlDb(gate.controlPool), gate.services.provisioner, gate.policy);
    const two = new GrantSweeper(controlDb(gate.controlPool), gate.services.provisioner, gate.policy);
    const [r1, r2] = await Promise.all([one.sweep(7), two.sweep(7)]);
    expect(r1.expired + r2.expired).toBe(40);
    const revoked = await control(`SELECT request_id FROM audit_events WHERE action = 'pii.revoked' AND subject LIKE 'sw%'`);
    expect(new Set(revoked.map((r) => r.request_id)).size).toBe(40);
    expect(revoked).toHaveLength(40);
    const left = await withClient(gate.warehouseAdminUrl, async (w) =>
      (await w.query(`SELECT count(*)::int AS n FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = ANY($1)`, [roles])).rows[0].n,
    );
    expect(left).toBe(0);
  });
});

describe('leaving the FDWG', () => {
  test('at the next sign-in as a non-member, live PII grants end (left_group), sessions end, pending requests are withdrawn', async () => {
    const granted = await grantedToAlice();
    const pending = (await ask('alice', ['message_text'], PURPOSE_TEXT)).data.id;
    const c = await live();
    await readUsers(c);
    gate.issuer.setAccountGroups('alice', []);
    try {
      await signIn(new HttpSession(), gate.url, 'alice', 'alice-demo');
    } finally {
      gate.issuer.setAccountGroups('alice', ['fdwg']);
    }
    await expect(c.query('SELECT 1')).rejects.toThrow();
    await c.end().catch(() => {});
    expect((await grantsOf(granted))[0]).toMatchObject({ end_reason: 'left_group', ended_by: 'system:gate' });
    expect((await events(granted, 'pii.revoked'))[0].details).toMatchObject({ reason: 'left_group' });
    expect((await control(`SELECT state, decided_by FROM pii_requests WHERE id = $1`, [pending]))[0]).toEqual({ state: 'withdrawn', decided_by: 'system:gate' });
    const still = await withClient(gate.warehouseAdminUrl, async (w) =>
      (await w.query(`SELECT count(*)::int AS n FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
                        WHERE u.rolname = $1 AND g.rolname LIKE $2`, [aliceRole, `${gate.prefix}pii\\_%`])).rows[0].n,
    );
    expect(still).toBe(0);
  });

  test('the access log chain is intact after all of it', async () => {
    await expectChainIntact(gate.controlAdminUrl);
  });
});
