// API callers without the browser cookie: a bearer JWT from the issuer, verified with jose.
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type TestGate, startTestGate } from './support/gate.js';
import { HttpSession, signIn } from './support/http-session.js';

let gate: TestGate;
beforeAll(async () => {
  gate = await startTestGate({ demoMessages: 200 });
});
afterAll(async () => {
  await gate?.close();
});

const b64url = (b: Buffer) => b.toString('base64url');

/** A real authorization-code flow for the gate's client, stopped before the gate's callback. */
async function idTokenFor(username: string): Promise<string> {
  const s = new HttpSession();
  const meta = (await (await fetch(`${gate.issuer.issuer}/.well-known/openid-configuration`)).json()) as any;
  const verifier = b64url(randomBytes(32));
  const redirectUri = `${gate.url}/auth/callback`;
  const authorize = new URL(meta.authorization_endpoint);
  for (const [k, v] of Object.entries({
    client_id: gate.config.oidc.clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: gate.config.oidc.scopes,
    state: b64url(randomBytes(8)),
    nonce: b64url(randomBytes(8)),
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  })) authorize.searchParams.set(k, v);
  const loginPage = await s.follow(authorize);
  const action = (await loginPage.res.text()).match(/<form[^>]*action="([^"]*\/login)"/)![1]!;
  let res = await s.request(new URL(action.replace(/&amp;/g, '&'), loginPage.url), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password: `${username}-demo` }).toString(),
  });
  let location = new URL(res.headers.get('location')!, loginPage.url);
  while (!location.toString().startsWith(redirectUri)) {
    res = await s.request(location);
    location = new URL(res.headers.get('location')!, location);
  }
  const token = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${gate.config.oidc.clientId}:${gate.config.oidc.clientSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: location.searchParams.get('code')!,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    }).toString(),
  });
  return ((await token.json()) as any).id_token;
}

const api = (path: string, token: string, init: RequestInit = {}) =>
  fetch(`${gate.url}${path}`, { ...init, headers: { ...(init.headers ?? {}), authorization: `Bearer ${token}` } });

test('an ID token from the issuer works on the API without any cookie', async () => {
  // alice signs in once in the browser flow (creates her record), then uses the API with a token.
  await signIn(new HttpSession(), gate.url, 'alice', 'alice-demo');
  const token = await idTokenFor('alice');
  const me = await api('/api/me', token);
  expect(me.status).toBe(200);
  expect(await me.json()).toMatchObject({ username: 'alice', groups: ['fdwg'], standing: { member: true } });
  const agreement = await api('/api/agreement', token, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ version: gate.policy.agreement.version }),
  });
  expect(agreement.status).toBe(200);
  const cred = await api('/api/credentials', token, { method: 'POST' });
  expect(cred.status).toBe(201);
});

test('forged, foreign and malformed tokens are refused with 401 and a reason', async () => {
  const real = await idTokenFor('bob');
  const [h, p] = real.split('.');
  const tampered = `${h}.${b64url(Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), nickname: 'alice' })))}.${real.split('.')[2]}`;
  const selfSigned = await new SignJWT({ nickname: 'alice', groups: ['fdwg'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('x')
    .setIssuer(gate.issuer.issuer)
    .setAudience(gate.config.oidc.clientId)
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode('a'.repeat(32)));
  for (const token of [tampered, selfSigned, 'not-a-jwt']) {
    const res = await api('/api/me', token);
    expect(res.status, token.slice(0, 20)).toBe(401);
    expect(((await res.json()) as any).error.message).toMatch(/Bearer token refused/);
  }
  const wrongScheme = await fetch(`${gate.url}/api/me`, { headers: { authorization: 'Basic abc' } });
  expect(wrongScheme.status).toBe(401);
});
