// The per-request path made cheaper for issue 14 (P2) keeps its guarantees: the security headers
// built once are exactly what hono's secureHeaders sent with the gate's options, on every kind of
// answer; request ids and access log lines stay; the session read (one raw prepared statement)
// still re-checks the row on every request and brings the live lease with it.
import { Hono } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NONCE } from '../src/web/nonce.js';
import { securityHeaders } from '../src/web/security-headers.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { deviceToken, signedInBrowser } from './support/personas.js';

const ISSUER = 'http://localhost:8788';
const HSTS = 'max-age=31536000; includeSubDomains';

/** The gate's former configuration of hono's secureHeaders: the reference. */
const reference = (hsts: string | false) =>
  secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: [NONCE],
      styleSrc: [NONCE],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      formAction: ["'self'", ISSUER],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    referrerPolicy: 'same-origin',
    strictTransportSecurity: hsts,
  });

/** One app per middleware, with answers of every shape a handler gives. */
function appWith(mw: ReturnType<typeof secureHeaders>) {
  const app = new Hono();
  app.use('*', mw);
  app.get('/json', (c) => {
    c.header('Cache-Control', 'no-store');
    return c.json({ ok: true });
  });
  app.get('/page', (c) => c.html(`<script nonce="${c.get('secureHeadersNonce' as never)}"></script>`));
  app.get('/own', (c) => c.text('x', 200, { 'X-Frame-Options': 'ALLOWALL', 'X-Powered-By': 'me', 'Referrer-Policy': 'unsafe-url' }));
  app.get('/raw', () => new Response('raw', { headers: { 'content-type': 'text/plain' } }));
  app.get('/redirect', (c) => c.redirect('/json', 303));
  app.get('/boom', () => {
    throw new Error('boom');
  });
  app.onError((_err, c) => c.json({ error: 'internal' }, 500));
  return app;
}

/** Headers with the nonce replaced, so two answers can be compared. */
async function shape(res: Response) {
  const body = await res.text();
  const nonce = /'nonce-([^']+)'/.exec(res.headers.get('content-security-policy') ?? '')?.[1];
  const headers = Object.fromEntries([...res.headers].map(([k, v]) => [k, nonce ? v.replaceAll(nonce, 'N') : v]));
  return { status: res.status, headers, body: nonce ? body.replaceAll(nonce, 'N') : body };
}

describe('security headers built once', () => {
  for (const hsts of [false, HSTS] as const) {
    test(`the same headers and values as hono's secureHeaders on every kind of answer (HSTS ${hsts ? 'on' : 'off'})`, async () => {
      const ours = appWith(securityHeaders({ formActionOrigins: [ISSUER], strictTransportSecurity: hsts }));
      const theirs = appWith(reference(hsts));
      for (const path of ['/json', '/page', '/own', '/raw', '/redirect', '/boom', '/nowhere']) {
        const [a, b] = await Promise.all([ours.request(path), theirs.request(path)]);
        expect(await shape(a), path).toEqual(await shape(b));
      }
      const page = await ours.request('/page');
      const nonce = /'nonce-([^']+)'/.exec(page.headers.get('content-security-policy')!)![1];
      expect(await page.text()).toBe(`<script nonce="${nonce}"></script>`);
      expect(page.headers.get('strict-transport-security')).toBe(hsts || null);
    });
  }
});

describe('the gate, answer by answer', () => {
  let gate: TestGate;
  let token: string;
  let cookie: string;
  let browser: Awaited<ReturnType<typeof signedInBrowser>>;

  beforeAll(async () => {
    gate = await startTestGate({ demoMessages: 200 });
    browser = await signedInBrowser(gate, 'alice');
    token = await deviceToken(gate, browser.s, browser.csrf);
    cookie = `fdwg-session=${browser.s.cookie('localhost', 'fdwg-session')}`;
  });
  afterAll(() => gate?.close());

  const expectSecure = (res: Response, what: string) => {
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp, what).toMatch(/^default-src 'none'; script-src 'nonce-[A-Za-z0-9+/=]{24}'; style-src 'nonce-[A-Za-z0-9+/=]{24}'; img-src 'self' data:; connect-src 'self'; form-action 'self' http:\/\/localhost:\d+; frame-ancestors 'none'; base-uri 'none'$/);
    expect(res.headers.get('x-content-type-options'), what).toBe('nosniff');
    expect(res.headers.get('x-frame-options'), what).toBe('SAMEORIGIN');
    expect(res.headers.get('referrer-policy'), what).toBe('same-origin');
    expect(res.headers.get('cross-origin-opener-policy'), what).toBe('same-origin');
    expect(res.headers.get('x-request-id'), what).toMatch(/^[\w=-]{1,255}$/);
  };

  test('API answers (token, cookie, refusals, not found), pages and health checks all carry them and a request id', async () => {
    const answers: Array<[string, Response]> = [
      ['me by token', await fetch(`${gate.url}/api/me`, { headers: { authorization: `Bearer ${token}` } })],
      ['me by cookie', await fetch(`${gate.url}/api/me`, { headers: { cookie } })],
      ['me signed out', await fetch(`${gate.url}/api/me`)],
      ['bad token', await fetch(`${gate.url}/api/me`, { headers: { authorization: 'Bearer nope' } })],
      ['no such API', await fetch(`${gate.url}/api/nothing-here`, { headers: { authorization: `Bearer ${token}` } })],
      ['page', await fetch(`${gate.url}/`, { headers: { cookie } })],
      ['health', await fetch(`${gate.url}/healthz/live`)],
    ];
    expect(answers.map(([what, r]) => [what, r.status])).toEqual([
      ['me by token', 200],
      ['me by cookie', 200],
      ['me signed out', 401],
      ['bad token', 401],
      ['no such API', 404],
      ['page', 200],
      ['health', 200],
    ]);
    for (const [what, res] of answers) expectSecure(res, what);
    const ids = answers.map(([, r]) => r.headers.get('x-request-id'));
    expect(new Set(ids).size).toBe(ids.length);

    // The page's scripts and styles carry this answer's nonce.
    const page = answers.find(([what]) => what === 'page')![1];
    const nonce = /'nonce-([^']+)'/.exec(page.headers.get('content-security-policy')!)![1]!;
    const html = await page.text();
    expect(html).toContain(`nonce="${nonce}"`);
    expect([...html.matchAll(/nonce="([^"]+)"/g)].every((m) => m[1] === nonce)).toBe(true);
  });

  test('an error answer names the request id it was sent with, and the access log has a line for it', async () => {
    const res = await fetch(`${gate.url}/api/me`, { headers: { 'x-request-id': 'trace-42=a' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBe('trace-42=a');
    expect(((await res.json()) as { error: { requestId: string } }).error.requestId).toBe('trace-42=a');
    // Not a plain token: replaced by one of the gate's.
    const odd = await fetch(`${gate.url}/api/me`, { headers: { 'x-request-id': 'a b;c' } });
    expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const mine = await fetch(`${gate.url}/api/me`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'p2-me' } });
    expect(mine.status).toBe(200);
    await new Promise((r) => setImmediate(r));
    const lines = gate.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
    expect(lines.find((l) => l.id === 'trace-42=a')).toMatchObject({ level: 'info', method: 'GET', path: '/api/me', status: 401 });
    expect(lines.find((l) => l.id === 'p2-me')).toMatchObject({ level: 'info', method: 'GET', path: '/api/me', status: 200, user: 'alice' });
    expect(typeof lines.find((l) => l.id === 'p2-me')!.time).toBe('string');
  });

  test('only the loopback CLI sign-in page lets forms go to 127.0.0.1', async () => {
    const authorize = await fetch(`${gate.url}/cli/authorize`, { redirect: 'manual' });
    expect(authorize.headers.get('content-security-policy')).toContain("form-action http://127.0.0.1:* http://[::1]:* 'self' ");
    const other = await fetch(`${gate.url}/cli/device`, { redirect: 'manual' });
    expect(other.headers.get('content-security-policy')).toMatch(/form-action 'self' http:\/\/localhost:\d+;/);
  });

  test('the session read brings the live lease, and a change to the rows shows on the very next request', async () => {
    const asToken = { authorization: `Bearer ${token}` };
    const me = async () => (await (await fetch(`${gate.url}/api/me`, { headers: asToken })).json()) as { credential: { id: number; expiresAt: string } | null };
    expect((await me()).credential).toBeNull();
    const issued = await fetch(`${gate.url}/api/credentials`, { method: 'POST', headers: { ...asToken, 'content-type': 'application/json' }, body: '{}' });
    expect(issued.status).toBe(201);
    const cred = (await issued.json()) as { id: number; expiresAt: string };
    expect((await me()).credential).toMatchObject({ id: cred.id, expiresAt: cred.expiresAt });
    expect((await fetch(`${gate.url}/api/credentials`, { method: 'DELETE', headers: asToken })).status).toBe(200);
    expect((await me()).credential).toBeNull();

    // Signing the browser out ends its token too: refused on the next request, cookie and token.
    const out = await browser.s.request(`${gate.url}/auth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: gate.url },
      body: new URLSearchParams({ _csrf: browser.csrf }).toString(),
      redirect: 'manual',
    });
    expect(out.status).toBe(303);
    expect((await fetch(`${gate.url}/api/me`, { headers: asToken })).status).toBe(401);
    expect((await fetch(`${gate.url}/api/me`, { headers: { cookie } })).status).toBe(401);
  });
});
