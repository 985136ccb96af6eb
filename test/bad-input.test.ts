// Bad input is refused before it reaches PostgreSQL: a 400 (or a 413 for an oversized body) that
// says why, in the one error shape for the API and on the error page for forms. Never a 500. Also:
// the PII request API refuses whoever the /requests page refuses.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ApiContract, apiContract } from './support/api-contract.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { HttpSession, formField, signIn } from './support/http-session.js';
import { withClient } from './support/pg.js';

let gate: TestGate;
/** Every JSON answer of the API below is checked against its documented schema (test/openapi.test.ts). */
let contract: ApiContract;
const s: Record<string, HttpSession> = {};
/** Every status answered to bad input here (the closing figure: how many were a 500). */
const answered: { what: string; status: number }[] = [];

const PURPOSE = 'Join the FDWG maintainer roster to pseudonyms for the 2026 activity report.';
const NUL = '\u0000';
const LONE_HIGH = '\ud800';
const LONE_LOW = '\udc00';

const decode = (html: string) =>
  html.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

async function api(who: string, method: string, path: string, body?: unknown) {
  const init: RequestInit =
    body === undefined ? { method } : { method, headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) };
  const res = await s[who]!.request(`${gate.url}/api${path}`, init);
  return { status: res.status, data: contract.check(method, `/api${path}`, res.status, (await res.json()) as any) };
}

/** A refusal in the API's one error shape, with a reason matching `reason`. */
function expectRefusedJson(what: string, r: { status: number; data: any }, reason: RegExp, status = 400) {
  answered.push({ what, status: r.status });
  expect(r.status, `${what}: ${JSON.stringify(r.data)}`).toBe(status);
  expect(r.data.error.code, what).toBe(status === 413 ? 'payload_too_large' : 'bad_request');
  expect(r.data.error.message, what).toMatch(reason);
  expect(typeof r.data.error.requestId, what).toBe('string');
}

async function expectRefusedHtml(what: string, res: Response, reason: RegExp, status = 400) {
  answered.push({ what, status: res.status });
  const html = decode(await res.text());
  expect(res.status, `${what}: ${html.slice(0, 400)}`).toBe(status);
  expect(res.headers.get('content-type'), what).toMatch(/text\/html/);
  expect(html, what).toMatch(reason);
}

const control = <T = any>(text: string, params: unknown[] = []) =>
  withClient(gate.controlAdminUrl, async (c) => (await c.query(text, params)).rows as T[]);

/** The form token of a signed-in person, read from a page as a browser would. */
async function csrfOf(who: string, page = '/'): Promise<string> {
  const res = await s[who]!.request(`${gate.url}${page}`);
  const token = formField(await res.text(), '_csrf');
  expect(token, `${who} ${page}`).toBeTruthy();
  return token!;
}

/** Posts a form without following the redirect (a 303 means it was accepted). */
const postForm = (who: string, path: string, fields: Record<string, string>) =>
  s[who]!.request(`${gate.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(gate.url).origin },
    body: new URLSearchParams(fields).toString(),
  });

let pending = 0;

beforeAll(async () => {
  gate = await startTestGate();
  contract = apiContract(gate);
  for (const who of ['alice', 'bob', 'carol', 'mallory']) {
    s[who] = new HttpSession();
    await signIn(s[who]!, gate.url, who, `${who}-demo`);
  }
  for (const who of ['alice', 'bob']) {
    expect((await api(who, 'POST', '/agreement', { version: gate.policy.agreement.version })).status).toBe(200);
  }
  const created = await api('alice', 'POST', '/requests', { datasets: ['maintainer_identities'], purpose: PURPOSE, durationSeconds: 3600 });
  expect(created.status, JSON.stringify(created.data)).toBe(201);
  pending = created.data.id;
}, 60_000);

afterAll(async () => {
  const fives = answered.filter((a) => a.status >= 500);
  console.log(`bad input: ${fives.length} of ${answered.length} answered 5xx${fives.length ? `: ${fives.map((f) => f.what).join(', ')}` : ''}`);
  await gate?.close();
});

describe('text with NUL or an unpaired surrogate is a 400 that names the field', () => {
  test('a purpose (JSON), and nothing is created', async () => {
    for (const [name, bad] of [['NUL', NUL], ['high surrogate', LONE_HIGH], ['low surrogate', LONE_LOW]]) {
      const r = await api('alice', 'POST', '/requests', { datasets: ['message_text'], purpose: `${PURPOSE} ${PURPOSE}${bad}`, durationSeconds: 3600 });
      expectRefusedJson(`purpose with ${name}`, r, /purpose/);
    }
    expect(await control(`SELECT id FROM pii_requests WHERE $1 = ANY(datasets)`, ['message_text'])).toEqual([]);
  });

  test('a review comment (JSON), and the request stays pending', async () => {
    for (const [name, bad] of [['NUL', NUL], ['high surrogate', LONE_HIGH]]) {
      const r = await api('bob', 'POST', `/requests/${pending}/reviews`, { decision: 'deny', comment: `no${bad}` });
      expectRefusedJson(`review comment with ${name}`, r, /comment/);
    }
    expect((await control(`SELECT state FROM pii_requests WHERE id = $1`, [pending]))[0].state).toBe('pending');
  });

  test('a review comment and a purpose posted from the HTML forms', async () => {
    const bobToken = await csrfOf('bob', '/approvals');
    await expectRefusedHtml('approval form comment with NUL', await postForm('bob', `/approvals/${pending}`, { _csrf: bobToken, decision: 'deny', comment: `no${NUL}` }), /comment/);
    expect((await control(`SELECT state FROM pii_requests WHERE id = $1`, [pending]))[0].state).toBe('pending');

    const aliceToken = await csrfOf('alice', '/requests');
    const res = await postForm('alice', '/requests', { _csrf: aliceToken, 'datasets[]': 'message_text', purpose: `${PURPOSE} ${PURPOSE}${NUL}`, durationSeconds: '3600' });
    await expectRefusedHtml('request form purpose with NUL', res, /purpose/);
  });

  test('an early-revoke comment (JSON and form), and the grant stays live', async () => {
    const approved = await api('bob', 'POST', `/requests/${pending}/reviews`, { decision: 'approve' });
    expect(approved.status, JSON.stringify(approved.data)).toBe(200);
    const grant = approved.data.request.grants[0].id as number;
    expectRefusedJson('revoke comment with NUL', await api('bob', 'POST', `/grants/${grant}/revoke`, { comment: `stop${NUL}` }), /comment/);
    expectRefusedJson('revoke comment with surrogate', await api('bob', 'POST', `/grants/${grant}/revoke`, { comment: `stop${LONE_LOW}` }), /comment/);
    const token = await csrfOf('bob', '/approvals');
    await expectRefusedHtml('revoke form comment with NUL', await postForm('bob', `/grants/${grant}/revoke`, { _csrf: token, comment: `stop${NUL}` }), /comment/);
    expect((await control(`SELECT ended_at FROM pii_grants WHERE id = $1`, [grant]))[0].ended_at).toBeNull();
  });

  test('any other JSON string, keys included', async () => {
    expectRefusedJson('agreement version with NUL', await api('alice', 'POST', '/agreement', { version: `1${NUL}` }), /version/);
    expectRefusedJson('dataset name with NUL', await api('alice', 'POST', '/requests', { datasets: [`message_text${NUL}`], purpose: PURPOSE, durationSeconds: 3600 }), /datasets/);
    expectRefusedJson('key with NUL', await api('alice', 'POST', '/credentials', { [`ttl${NUL}`]: 3600 }), /NUL|surrogate/);
  });
});

describe('numbers: JSON takes numbers only, a form field a decimal digit string only', () => {
  test.each([
    ['true', true],
    ['[5]', [5]],
    ['"0x10"', '0x10'],
    ['"3600"', '3600'],
    ['3600.5', 3600.5],
    ['null', null],
  ])('ttlSeconds: %s is a 400 and issues nothing', async (_label, value) => {
    const before = (await control(`SELECT count(*)::int AS n FROM credentials`))[0].n;
    expectRefusedJson(`ttlSeconds ${JSON.stringify(value)}`, await api('alice', 'POST', '/credentials', { ttlSeconds: value }), /ttlSeconds/);
    expect((await control(`SELECT count(*)::int AS n FROM credentials`))[0].n).toBe(before);
  });

  test.each([['"3600"'], ['true'], ['[3600]']])('durationSeconds: %s is a 400', async (raw) => {
    const body = `{"datasets":["message_text"],"purpose":${JSON.stringify(`${PURPOSE} ${PURPOSE}`)},"durationSeconds":${raw}}`;
    expectRefusedJson(`durationSeconds ${raw}`, await api('alice', 'POST', '/requests', body), /durationSeconds/);
  });

  test('the credential and request forms take digits only', async () => {
    const token = await csrfOf('alice');
    for (const ttl of ['0x10', '1e4', '3600.0', ' 3600', '-5', '']) {
      await expectRefusedHtml(`credential form ttl ${JSON.stringify(ttl)}`, await postForm('alice', '/credentials', { _csrf: token, ttl }), /ttl/);
    }
    const reqToken = await csrfOf('alice', '/requests');
    for (const durationSeconds of ['0x1000', '1e4', '3600.0', 'true']) {
      const res = await postForm('alice', '/requests', { _csrf: reqToken, 'datasets[]': 'message_text', purpose: `${PURPOSE} ${PURPOSE}`, durationSeconds });
      await expectRefusedHtml(`request form duration ${durationSeconds}`, res, /durationSeconds/);
    }
    expect(await control(`SELECT id FROM pii_requests WHERE $1 = ANY(datasets)`, ['message_text'])).toEqual([]);
    // Digits still work.
    const ok = await postForm('alice', '/credentials', { _csrf: token, ttl: '3600' });
    expect(ok.status).toBe(201);
    await ok.text();
    const asked = await postForm('alice', '/requests', { _csrf: reqToken, 'datasets[]': 'message_text', purpose: `${PURPOSE} ${PURPOSE}`, durationSeconds: '3600' });
    expect([asked.status, asked.headers.get('location')]).toEqual([303, '/requests?done=created']);
    expect((await control(`SELECT duration_seconds FROM pii_requests WHERE $1 = ANY(datasets)`, ['message_text']))[0].duration_seconds).toBe(3600);
  });
});

describe('ids and audit filters PostgreSQL would refuse are a 400', () => {
  const apiCases: [string, RegExp][] = [
    ['analyst=%00', /analyst/],
    ['actor=x%00y', /actor/],
    ['dataset=%00', /dataset/],
    ['request=2147483648', /request/],
    ['request=99999999999999999999', /request/],
    ['from=99999', /from/],
    ['from=0000-01-01T00:00:00Z', /from/],
    ['to=%2B275760-09-13T00:00:00.000Z', /to/],
    ['from=-000001-01-01T00:00:00Z', /from/],
    ['to=10000-01-01', /to/],
    ['from=1', /from/],
  ];
  test.each(apiCases)('GET /api/audit/events?%s', async (q, reason) => {
    const res = await s.carol!.request(`${gate.url}/api/audit/events?${q}`);
    expectRefusedJson(`audit filter ${q}`, { status: res.status, data: contract.check('GET', '/api/audit/events', res.status, await res.json()) }, reason);
    for (const path of ['/audit', '/audit/export.csv', '/audit/export.jsonl']) {
      await expectRefusedHtml(`${path}?${q}`, await s.carol!.request(`${gate.url}${path}?${q}`), reason);
    }
  });

  test('the widest dates PostgreSQL takes still work', async () => {
    const res = await s.carol!.request(`${gate.url}/api/audit/events?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59.999Z&limit=1`);
    expect(res.status).toBe(200);
    expect(contract.check('GET', '/api/audit/events', 200, await res.json()).events).toHaveLength(1);
  });

  test('a timeline of a name PostgreSQL cannot store', async () => {
    await expectRefusedHtml('timeline of NUL', await s.carol!.request(`${gate.url}/audit/analysts/al%00ice`), /username|NUL/);
  });

  test('ids in paths beyond int4 or not numbers', async () => {
    for (const path of ['/requests/2147483648/withdraw', '/requests/99999999999/relinquish', '/requests/1x/reviews', '/grants/2147483648/revoke']) {
      expectRefusedJson(`POST ${path}`, await api('bob', 'POST', path, {}), /id/);
    }
    for (const path of ['/audit/events/99999999999999999999', '/audit/events/0', '/audit/events/%00']) {
      const res = await s.carol!.request(`${gate.url}/api${path}`);
      expectRefusedJson(`GET ${path}`, { status: res.status, data: contract.check('GET', `/api${path}`, res.status, await res.json()) }, /id/);
    }
    // The largest int4 is a well-formed id: simply not found.
    expect((await api('alice', 'POST', '/requests/2147483647/withdraw', {})).status).toBe(404);
  });
});

describe('bodies are limited before they are parsed: 413 with a reason', () => {
  const big = 'x'.repeat(10 * 1024 * 1024);

  test('a 10 MB JSON body with Content-Length', async () => {
    const body = JSON.stringify({ datasets: ['message_text'], purpose: big, durationSeconds: 3600 });
    expectRefusedJson('10 MB JSON', await api('alice', 'POST', '/requests', body), /too large|at most/i, 413);
  });

  test('a streamed JSON body without Content-Length', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"datasets":["message_text"],"durationSeconds":3600,"purpose":"'));
      },
      pull(controller) {
        if (sent >= 160) {
          controller.enqueue(new TextEncoder().encode('"}'));
          controller.close();
          return;
        }
        sent++;
        controller.enqueue(chunk);
      },
    });
    const res = await s.alice!.request(`${gate.url}/api/requests`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expectRefusedJson('streamed 10 MB JSON', { status: res.status, data: contract.check('POST', '/api/requests', res.status, await res.json()) }, /too large|at most/i, 413);
  });

  test('a 10 MB form post', async () => {
    const token = await csrfOf('alice', '/requests');
    const res = await postForm('alice', '/requests', { _csrf: token, 'datasets[]': 'message_text', purpose: big, durationSeconds: '3600' });
    await expectRefusedHtml('10 MB form', res, /too large|at most/i, 413);
  });
});

describe('the PII request API refuses whoever the /requests page refuses', () => {
  test.each([['mallory'], ['carol']])('%s gets 403 from /api/datasets, /api/requests and the page', async (who) => {
    for (const path of ['/datasets', '/requests']) {
      const r = await api(who, 'GET', path);
      expect(r.status, `${who} ${path}`).toBe(403);
      expect(r.data.error.code).toBe('not_admitted');
    }
    expect((await s[who]!.request(`${gate.url}/requests`)).status).toBe(403);
  });

  test('alice still gets both', async () => {
    expect((await api('alice', 'GET', '/datasets')).status).toBe(200);
    const mine = await api('alice', 'GET', '/requests');
    expect(mine.status).toBe(200);
    expect(mine.data.requests.map((r: any) => r.id)).toContain(pending);
  });
});
