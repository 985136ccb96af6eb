// The API's contract: every /api route the app serves is in the OpenAPI document (and nothing else
// is), the document and its reference page are served to anyone, and the typed routes keep the
// input rules of the hand-written validators they replaced (JSON only, empty body = {}, the 400s).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApp } from '../src/app.js';
import { type ApiContract, apiContract } from './support/api-contract.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { HttpSession, signIn } from './support/http-session.js';

let gate: TestGate;
let contract: ApiContract;
let doc: any;
const alice = new HttpSession();
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** hono's `/requests/:id/withdraw` (a `:id{[0-9]+}` pattern too) as OpenAPI's `/requests/{id}/withdraw`. */
const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}');

beforeAll(async () => {
  gate = await startTestGate();
  contract = apiContract(gate);
  await signIn(alice, gate.url, 'alice', 'alice-demo');
  // Admitted, so that what the input-rule tests send reaches the validators: a route checks its
  // access action before it reads the body (a 403 first for those who may not).
  const agreed = await alice.request(`${gate.url}/api/agreement`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ version: gate.policy.agreement.version }),
  });
  expect(agreed.status).toBe(200);
  const res = await fetch(`${gate.url}/openapi.json`);
  expect(res.status).toBe(200);
  doc = await res.json();
}, 60_000);

afterAll(async () => {
  await gate?.close();
});

describe('the document and the app agree', () => {
  test('every /api route the app registers is documented with its method and path, and every documented one is served', () => {
    const app = createApp({ config: gate.config, policy: gate.policy, controlPool: gate.controlPool, warehousePool: gate.warehousePool }, gate.services);
    const served = new Set(
      app.routes
        // `use` middleware is registered for method ALL; routes carry their own method.
        .filter((r) => r.method !== 'ALL' && (r.path === '/api' || r.path.startsWith('/api/')))
        .map((r) => `${r.method} ${toOpenApiPath(r.path)}`),
    );
    const documented = new Set(
      Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
        METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path}`),
      ),
    );
    expect(served.size).toBeGreaterThanOrEqual(16);
    expect([...served].filter((r) => !documented.has(r)), 'served but not documented').toEqual([]);
    expect([...documented].filter((r) => !served.has(r)), 'documented but not served').toEqual([]);
    // The contract helper reads the same routes.
    expect(new Set(contract.routes.map((r) => `${r.method} ${r.path}`))).toEqual(documented);
  });

  test('every operation has a summary, a description, a success answer and its errors in the one shape', () => {
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const method of METHODS.filter((m) => item[m])) {
        const op = item[method];
        const what = `${method.toUpperCase()} ${path}`;
        expect(op.summary, what).toBeTruthy();
        expect(op.description?.length, what).toBeGreaterThan(20);
        expect(Object.keys(op.responses).some((s) => s.startsWith('2')), what).toBe(true);
        for (const status of ['401', '500', '503']) expect(op.responses[status], `${what} ${status}`).toBeDefined();
        for (const [status, r] of Object.entries<any>(op.responses)) {
          if (Number(status) < 400) continue;
          expect(r.content['application/json'].schema.$ref, `${what} ${status}`).toBe(`#/components/schemas/Error${status}`);
        }
        if (op.requestBody) expect(op.responses['413'], `${what} takes a body: 413`).toBeDefined();
        if (method !== 'get') expect(op.responses['403'], `${what} is refused cross-site: 403`).toBeDefined();
      }
    }
  });
});

describe('the contract helper the API tests use', () => {
  test('refuses what the document does not say', async () => {
    const res = await alice.request(`${gate.url}/api/me`);
    const me = await res.json();
    expect(contract.check('GET', `${gate.url}/api/me`, 200, me)).toBe(me);
    expect(() => contract.check('GET', '/api/me', 200, { ...me, extra: 1 })).toThrow(/extra/);
    expect(() => contract.check('GET', '/api/me', 200, { ...me, standing: undefined })).toThrow(/standing/);
    expect(() => contract.check('GET', '/api/me', 404, { error: { code: 'not_found', message: 'x' } })).toThrow(/not documented/);
    expect(() => contract.check('GET', '/api/requests/1/withdraw', 200, {})).toThrow(/not a documented API route/);
    // An error must carry a code of its status.
    expect(() => contract.check('POST', '/api/requests/1/withdraw', 409, { error: { code: 'not_found', message: 'x' } })).toThrow(/code/);
    expect(contract.check('POST', '/api/requests/1/withdraw', 409, { error: { code: 'conflict', message: 'x', requestId: 'r' } })).toBeTruthy();
  });
});

describe('GET /openapi.json', () => {
  test('is OpenAPI 3.1 with the title, the version, the server and both ways to authenticate, for anyone', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: 'FDWG Access Gate API', version: pkg.version });
    expect(doc.servers).toEqual([{ url: gate.config.publicUrl }]);
    expect(doc.components.securitySchemes).toMatchObject({
      bearerAuth: { type: 'http', scheme: 'bearer' },
      cookieAuth: { type: 'apiKey', in: 'cookie', name: 'fdwg-session' },
    });
    expect(doc.security).toEqual([{ bearerAuth: [] }, { cookieAuth: [] }]);
    expect(Object.keys(doc.paths).length).toBeGreaterThanOrEqual(10);
    expect(doc.paths['/api/requests'].post.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/PiiRequestCreate');
    expect(doc.paths['/api/requests/{id}/withdraw'].post.parameters).toEqual([expect.objectContaining({ name: 'id', in: 'path', required: true })]);
    expect(doc.paths['/api/audit/events'].get.parameters.map((p: any) => p.name)).toEqual(
      expect.arrayContaining(['analyst', 'actor', 'action', 'dataset', 'request', 'from', 'to', 'cursor', 'limit']),
    );
  });
});

describe('GET /api/docs', () => {
  test('renders every operation for anyone, with no script and styles under the CSP nonce', async () => {
    const res = await fetch(`${gate.url}/api/docs`);
    const html = await res.text();
    expect(res.status, html.slice(0, 300)).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(html).toMatch(/^<!doctype html>/i);
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const method of METHODS.filter((m) => item[m])) {
        expect(html, `${method} ${path}`).toContain(`>${method.toUpperCase()}</span><code>${path}</code>`);
        expect(html).toContain(escapeHtml(item[method].summary));
      }
    }
    expect(html).toContain('POST</span><code>/api/requests</code>');
    // Request body fields and parameters are listed with their types.
    expect(html).toContain('<code>durationSeconds</code>');
    expect(html).toContain('<code>datasets</code>');
    expect(html).toContain('<code>cursor</code>');
    expect(html).not.toMatch(/<script/i);
    const nonce = /style-src 'nonce-([^']+)'/.exec(res.headers.get('content-security-policy') ?? '')?.[1];
    expect(nonce).toBeTruthy();
    expect(html).toContain(`<style nonce="${nonce}">`);
  });
});

describe('the /api guard', () => {
  test('without an identity: a JSON 401 on routes and unknown paths alike, never a redirect; the reference stays open', async () => {
    for (const path of ['/api/me', '/api/requests', '/api/audit/chain', '/api/no-such-thing']) {
      const res = await fetch(`${gate.url}${path}`, { redirect: 'manual' });
      expect(res.status, path).toBe(401);
      expect(res.headers.get('content-type'), path).toMatch(/application\/json/);
      const body = await res.json();
      expect(body.error.code).toBe('unauthenticated');
      if (path !== '/api/no-such-thing') contract.check('GET', path, 401, body);
    }
    expect((await fetch(`${gate.url}/api/docs`)).status).toBe(200);
  });

  test('answers are never cached', async () => {
    const res = await alice.request(`${gate.url}/api/me`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    contract.check('GET', '/api/me', res.status, await res.json());
  });
});

describe('typed routes keep the input rules of the hand-written ones', () => {
  const post = (path: string, body: string | undefined, contentType?: string) =>
    alice.request(`${gate.url}/api${path}`, { method: 'POST', headers: contentType ? { 'content-type': contentType } : {}, body });

  test('an empty body is {} whatever its Content-Type, so a required field is named', async () => {
    for (const contentType of [undefined, 'application/json', 'text/plain', 'application/x-www-form-urlencoded']) {
      const res = await post('/requests', '', contentType);
      const body = contract.check('POST', '/api/requests', res.status, await res.json());
      expect(res.status, String(contentType)).toBe(400);
      expect(body.error.message, String(contentType)).toMatch(/^Invalid request: datasets: /);
    }
    // An action without input takes an empty body labelled as anything (curl -d '' sends a form type).
    for (const contentType of [undefined, 'application/x-www-form-urlencoded']) {
      const res = await post('/requests/2147483647/withdraw', '', contentType);
      expect(res.status, String(contentType)).toBe(404);
      contract.check('POST', '/api/requests/2147483647/withdraw', res.status, await res.json());
    }
  });

  test('a body that is not JSON, or not sent as JSON, is a 400 that says so (never a 415 or a 500)', async () => {
    const cases: [string, string | undefined, RegExp][] = [
      ['{"datasets":["x"]}', 'text/plain', /Content-Type: application\/json/],
      ['{"datasets":["x"]}', undefined, /Content-Type: application\/json/],
      ['{"datasets":["x"]}', 'application/json-seq', /Content-Type: application\/json/],
      ['{"datasets":', 'application/json', /not valid JSON/],
      ['datasets=x', 'application/x-www-form-urlencoded', /Content-Type: application\/json/],
    ];
    for (const [text, contentType, reason] of cases) {
      const res = await post('/requests', text, contentType);
      const body = contract.check('POST', '/api/requests', res.status, await res.json());
      expect(res.status, `${contentType}: ${text}`).toBe(400);
      expect(body.error.message).toMatch(reason);
    }
    const version = gate.policy.agreement.version;
    const charset = await post('/agreement', JSON.stringify({ version }), 'application/json; charset=utf-8');
    expect(charset.status).toBe(200);
    expect(contract.check('POST', '/api/agreement', charset.status, await charset.json())).toEqual({ accepted: true, version });
  });

  test('zod failures read as before: each field with its reason, ids in paths quoted', async () => {
    const res = await post('/requests', JSON.stringify({ datasets: [], purpose: 5, durationSeconds: 3600, extra: 1 }), 'application/json');
    const body = contract.check('POST', '/api/requests', res.status, await res.json());
    expect(res.status).toBe(400);
    expect(body.error.message).toMatch(/^Invalid request: /);
    expect(body.error.message).toContain('datasets: at least one dataset');
    expect(body.error.message).toMatch(/purpose: /);
    expect(body.error.message).toMatch(/body: Unrecognized key: "extra"/);
    const id = await post('/requests/12x/withdraw', '{}', 'application/json');
    expect(id.status).toBe(400);
    expect(contract.check('POST', '/api/requests/12x/withdraw', 400, await id.json()).error.message).toBe('Invalid id "12x": a positive integer.');
  });
});
