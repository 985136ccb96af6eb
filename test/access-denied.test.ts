// Refused attempts on the record (issue 12): a 403 on a recorded action is an `access.denied`
// event, written though nothing changed, one per person, action and minute with the rest counted
// beside the chain, whether the guard refused or an object rule did (self-approval, a second vote);
// auditors filter on it and see the count; the chain still verifies. Also the
// groups of the last sign-in, now kept on the analysts row instead of read back out of the log.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ApiContract, apiContract } from './support/api-contract.js';
import { expectChainIntact } from './support/audit.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { HttpSession, formField, signIn } from './support/http-session.js';
import { controlRows } from './support/seed.js';

let gate: TestGate;
let contract: ApiContract;
const s: Record<string, HttpSession> = {};
const csrf: Record<string, string> = {};
const PURPOSE = 'Counting how many packagers maintain more than ten packages, for the FDWG report.';

const json = (method: string, body?: unknown): RequestInit => ({
  method,
  headers: body === undefined ? {} : { 'content-type': 'application/json' },
  body: body === undefined ? undefined : JSON.stringify(body),
});
async function api(who: string, method: string, path: string, body?: unknown) {
  const res = await s[who]!.request(`${gate.url}/api${path}`, json(method, body));
  const data = (await res.json()) as any;
  contract.check(method, `/api${path}`, res.status, data);
  return { status: res.status, data, requestId: res.headers.get('x-request-id') };
}
const denials = (actor: string, action: string) =>
  controlRows<{ count: number; event_id: string; minute: Date }>(gate, `SELECT count, event_id, minute FROM access_denials WHERE actor = $1 AND action = $2 ORDER BY minute`, [actor, action]);
const deniedEvents = (actor: string, attempted: string) =>
  controlRows(gate, `SELECT * FROM audit_events WHERE action = 'access.denied' AND actor = $1 AND details->>'attempted' = $2 ORDER BY id`, [actor, attempted]);
/** Waits out the last seconds of a minute, so that a burst falls in one. */
const sameMinute = async () => {
  const left = 60 - new Date().getUTCSeconds();
  if (left < 8) await new Promise((r) => setTimeout(r, left * 1000 + 200));
};

beforeAll(async () => {
  gate = await startTestGate({ demoMessages: 200 });
  contract = apiContract(gate);
  for (const who of ['alice', 'bob', 'carol', 'dave', 'erin', 'mallory']) {
    s[who] = new HttpSession();
    const { res } = await signIn(s[who]!, gate.url, who, `${who}-demo`);
    const html = await res.text();
    csrf[who] = formField(html, '_csrf')!;
    const version = formField(html, 'version');
    if (version) expect((await api(who, 'POST', '/agreement', { version })).status).toBe(200);
  }
});
afterAll(async () => {
  await gate?.close();
});

describe('a refused attempt at a recorded action', () => {
  let requestId: number;

  test('a non-approver posting an approval: 403, and an access.denied event naming the request', async () => {
    const created = await api('alice', 'POST', '/requests', { datasets: ['maintainer_identities'], purpose: PURPOSE, durationSeconds: 3600 });
    expect(created.status).toBe(201);
    requestId = created.data.id;
    await sameMinute();
    // erin is an admin, not an approver.
    const refused = await api('erin', 'POST', `/requests/${requestId}/reviews`, { decision: 'approve' });
    expect([refused.status, refused.data.error.code]).toEqual([403, 'forbidden']);
    const [event] = await deniedEvents('erin', 'requests.review');
    expect(event).toMatchObject({ actor: 'erin', subject: 'erin', request_id: requestId, dataset: null });
    expect(event.details).toEqual({
      attempted: 'requests.review',
      route: 'POST /api/requests/:id/reviews',
      code: 'forbidden',
      reason: 'not an approver',
      minute: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\dZ$/),
      requestId,
      httpRequestId: refused.requestId,
    });
    // The same refusal through the page, in the same minute: counted, no second event.
    const page = await s.erin!.request(`${gate.url}/approvals/${requestId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: gate.url },
      body: new URLSearchParams({ _csrf: csrf.erin!, decision: 'approve' }).toString(),
    });
    expect(page.status).toBe(403);
    expect(await page.text()).toContain('Only approvers decide PII requests.');
    expect(await deniedEvents('erin', 'requests.review')).toHaveLength(1);
    expect((await denials('erin', 'requests.review')).map((d) => d.count)).toEqual([2]);
    // Nothing else happened to the request.
    expect(await controlRows(gate, `SELECT * FROM pii_request_reviews WHERE request_id = $1`, [requestId])).toEqual([]);
  });

  test('an id that names no request stays in the details, off the request column', async () => {
    await api('alice', 'POST', '/grants/2000000000/revoke', {});
    await api('alice', 'POST', '/requests/2000000000/reviews', { decision: 'deny' });
    const [grant] = await deniedEvents('alice', 'grants.revoke');
    expect(grant).toMatchObject({ request_id: null, details: { grantId: 2000000000, route: 'POST /api/grants/:id/revoke' } });
    const [review] = await deniedEvents('alice', 'requests.review');
    expect(review).toMatchObject({ request_id: null, details: { requestId: 2000000000 } });
  });

  test('hammering one route: one event a minute, every refusal counted, even when they race', async () => {
    await sameMinute();
    const before = Number((await controlRows(gate, `SELECT count(*) AS n FROM audit_events`))[0].n);
    const answers = await Promise.all(Array.from({ length: 30 }, () => s.mallory!.request(`${gate.url}/api/audit/events?limit=1`).then((r) => r.status)));
    expect(answers).toEqual(Array(30).fill(403));
    expect((await denials('mallory', 'audit.read')).map((d) => d.count)).toEqual([30]);
    expect(await deniedEvents('mallory', 'audit.read')).toHaveLength(1);
    expect(Number((await controlRows(gate, `SELECT count(*) AS n FROM audit_events`))[0].n)).toBe(before + 1);

    // A later minute is a new event (the minute moved back by hand, rather than waiting one).
    await controlRows(gate, `UPDATE access_denials SET minute = minute - interval '1 minute' WHERE actor = 'mallory' AND action = 'audit.read'`);
    expect((await s.mallory!.request(`${gate.url}/audit`)).status).toBe(403);
    expect((await denials('mallory', 'audit.read')).map((d) => d.count)).toEqual([30, 1]);
    expect(await deniedEvents('mallory', 'audit.read')).toHaveLength(2);
  });

  test('an approver deciding her own request, again and again: 403 each time, one event counting them, nothing decided', async () => {
    const created = await api('dave', 'POST', '/requests', { datasets: ['maintainer_identities'], purpose: PURPOSE, durationSeconds: 3600 });
    expect(created.status).toBe(201);
    const id: number = created.data.id;
    const before = Number((await controlRows(gate, `SELECT count(*) AS n FROM audit_events`))[0].n);
    await sameMinute();
    const answers: Awaited<ReturnType<typeof api>>[] = [];
    for (let i = 0; i < 5; i++) answers.push(await api('dave', 'POST', `/requests/${id}/reviews`, { decision: 'approve' }));
    expect(answers.map((a) => [a.status, a.data.error.code, a.data.error.message])).toEqual(
      Array(5).fill([403, 'forbidden', 'You cannot decide your own request, even as an approver.']),
    );
    const events = await deniedEvents('dave', 'requests.review');
    expect(events).toHaveLength(1);
    const eventId = Number(events[0].id);
    expect(events[0]).toMatchObject({ actor: 'dave', subject: 'dave', request_id: id, dataset: null });
    expect(events[0].details).toMatchObject({
      attempted: 'requests.review',
      code: 'forbidden',
      reason: 'self-approval: nobody decides their own request',
      requestId: id,
      route: 'POST /api/requests/:id/reviews',
      httpRequestId: answers[0]!.requestId,
    });
    expect((await denials('dave', 'requests.review')).map((d) => [d.count, Number(d.event_id)])).toEqual([[5, eventId]]);
    // One row on the log for the five, and no `request.refused` beside it.
    expect(Number((await controlRows(gate, `SELECT count(*) AS n FROM audit_events`))[0].n)).toBe(before + 1);
    expect(await controlRows(gate, `SELECT id FROM audit_events WHERE action = 'request.refused'`)).toEqual([]);

    // The approval form: the same answer, counted with the rest.
    const page = await s.dave!.request(`${gate.url}/approvals/${id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: gate.url },
      body: new URLSearchParams({ _csrf: csrf.dave!, decision: 'approve' }).toString(),
    });
    expect(page.status).toBe(403);
    expect(await page.text()).toContain('You cannot decide your own request, even as an approver.');
    expect((await denials('dave', 'requests.review')).map((d) => d.count)).toEqual([6]);
    expect(await deniedEvents('dave', 'requests.review')).toHaveLength(1);

    // Nothing happened to the request, and the auditor finds the refusal with its count.
    expect(await controlRows(gate, `SELECT * FROM pii_request_reviews WHERE request_id = $1`, [id])).toEqual([]);
    expect((await api('dave', 'GET', '/requests')).data.requests.find((r: any) => r.id === id)).toMatchObject({ state: 'pending' });
    const found = await api('carol', 'GET', '/audit/events?action=access.denied&analyst=dave');
    expect(found.data.events.map((e: any) => [e.id, e.details.reason])).toEqual([[eventId, 'self-approval: nobody decides their own request']]);
    expect((await api('carol', 'GET', `/audit/events/${eventId}`)).data.denials).toEqual({ count: 6, lastAt: expect.any(String) });
    await expectChainIntact(gate.controlAdminUrl);
  });

  test('refusals of unrecorded actions, and of the signed-out, leave nothing', async () => {
    const before = await controlRows(gate, `SELECT count(*)::int AS n FROM access_denials`);
    expect((await api('mallory', 'GET', '/requests')).status).toBe(403); // requests.read: not recorded
    expect((await api('carol', 'POST', '/agreement', { version: gate.policy.agreement.version })).status).toBe(403);
    expect((await fetch(`${gate.url}/api/audit/events`)).status).toBe(401);
    expect(await controlRows(gate, `SELECT count(*)::int AS n FROM access_denials`)).toEqual(before);
  });
});

describe('auditors see them', () => {
  test('filtered by action and person, with the count of the minute, on the API and the pages; the chain verifies', async () => {
    const page = await api('carol', 'GET', '/audit/events?action=access.denied&analyst=mallory');
    expect(page.status).toBe(200);
    expect(page.data.events.map((e: any) => [e.action, e.actor, e.details.attempted])).toEqual([
      ['access.denied', 'mallory', 'audit.read'],
      ['access.denied', 'mallory', 'audit.read'],
    ]);
    const first = page.data.events[1];
    const detail = await api('carol', 'GET', `/audit/events/${first.id}`);
    expect(detail.data.denials).toEqual({ count: 30, lastAt: expect.any(String) });
    const login = (await api('carol', 'GET', '/audit/events?action=login&limit=1')).data.events[0];
    expect((await api('carol', 'GET', `/audit/events/${login.id}`)).data.denials).toBeNull();

    const html = await (await s.carol!.request(`${gate.url}/audit?action=access.denied`)).text();
    expect(html).toContain('Refused access');
    expect(html).toContain('mallory');
    const eventPage = await (await s.carol!.request(`${gate.url}/audit/events/${first.id}`)).text();
    expect(eventPage).toMatch(/<strong>30<\/strong> refused attempts by mallory/);

    const chain = await api('carol', 'GET', '/audit/chain');
    expect(chain.data).toMatchObject({ ok: true });
    expect(chain.data.checked).toBeGreaterThan(5);
  });
});

describe('the groups of the last sign-in live on the analysts row', () => {
  test('each sign-in records them, a leaver\'s too', async () => {
    const [row] = await controlRows(gate, `SELECT last_groups, last_login_at FROM analysts WHERE username = 'alice'`);
    expect(row.last_groups).toEqual(['fdwg']);
    expect(Date.now() - new Date(row.last_login_at).getTime()).toBeLessThan(5 * 60_000);
    gate.issuer.setAccountGroups('bob', ['packager']);
    try {
      await signIn(new HttpSession(), gate.url, 'bob', 'bob-demo');
      const [bob] = await controlRows(gate, `SELECT last_groups FROM analysts WHERE username = 'bob'`);
      expect(bob.last_groups).toEqual(['packager']);
    } finally {
      gate.issuer.setAccountGroups('bob', ['fdwg', 'fdwg-approvers']);
      // That sign-in ended bob's other sessions (a leaver's): sign in again as a member.
      s.bob = new HttpSession();
      await signIn(s.bob, gate.url, 'bob', 'bob-demo');
    }
  });

  test('an approval goes by the row, not by what the log says about the last sign-in', async () => {
    const created = await api('erin', 'POST', '/requests', { datasets: ['maintainer_identities'], purpose: PURPOSE, durationSeconds: 3600 });
    expect(created.status).toBe(201);
    // The log's last `login` of erin says fdwg; her row says otherwise (as after a sign-in without
    // the group that left this request pending): no grant.
    await controlRows(gate, `UPDATE analysts SET last_groups = '["fdwg-admins"]' WHERE username = 'erin'`);
    const vote = await api('bob', 'POST', `/requests/${created.data.id}/reviews`, { decision: 'approve' });
    expect([vote.status, vote.data.error?.code]).toEqual([409, 'conflict']);
    expect(vote.data.error.message).toMatch(/erin is no longer admitted/);
    expect(await controlRows(gate, `SELECT * FROM pii_grants WHERE request_id = $1`, [created.data.id])).toEqual([]);
    await controlRows(gate, `UPDATE analysts SET last_groups = '["fdwg", "fdwg-admins"]' WHERE username = 'erin'`);
    const again = await api('bob', 'POST', `/requests/${created.data.id}/reviews`, { decision: 'approve' });
    expect(again.status).toBe(200);
    expect(again.data.final).toBe(true);
  });
});
