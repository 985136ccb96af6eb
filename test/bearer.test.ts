// API callers without the browser cookie: a bearer JWT from the issuer, verified with jose. An
// Ipsilon ID token carries no username or groups, so against Fedora this path fails closed; an
// issuer that does put them in the ID token (claimsInIdToken) can still use it.
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type TestGate, startTestGate } from './support/gate.js';
import { HttpSession, signIn } from './support/http-session.js';

let gate: TestGate; // claims in the ID token (not Ipsilon)
let ipsilon: TestGate;
beforeAll(async () => {
  [gate, ipsilon] = await Promise.all([
    startTestGate({ demoMessages: 200, issuer: { claimsInIdToken: true, userinfo: 'live' } }),
    startTestGate({ demoMessages: 200 }),
  ]);
});
afterAll(async () => {
  await Promise.all([gate?.close(), ipsilon?.close()]);
});

const b64url = (b: Buffer) => b.toString('base64url');

/** A real authorization-code flow for the gate's client, stopped before the gate's callback. */
async function idTokenFor(username: string, g: TestGate = gate, claims?: object): Promise<string> {
  const s = new HttpSession();
  const meta = (await (await fetch(`${g.issuer.issuer}/.well-known/openid-configuration`)).json()) as any;
  const verifier = b64url(randomBytes(32));
  const redirectUri = `${g.url}/auth/callback`;
  const authorize = new URL(meta.authorization_endpoint);
  for (const [k, v] of Object.entries({
    client_id: g.config.oidc.clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: g.config.oidc.scopes,
    ...(claims ? { claims: JSON.stringify(claims) } : {}),
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
      authorization: `Basic ${Buffer.from(`${g.config.oidc.clientId}:${g.config.oidc.clientSecret}`).toString('base64')}`,
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

const api = (path: string, token: string, init: RequestInit = {}, g: TestGate = gate) =>
  fetch(`${g.url}${path}`, { ...init, headers: { ...(init.headers ?? {}), authorization: `Bearer ${token}` } });

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

test('an Ipsilon ID token (no username, no groups) is refused with 401 and the reason, never admitted with empty groups', async () => {
  await signIn(new HttpSession(), ipsilon.url, 'alice', 'alice-demo');
  const plain = await api('/api/me', await idTokenFor('alice', ipsilon), {}, ipsilon);
  expect(plain.status).toBe(401);
  expect(((await plain.json()) as any).error.message).toMatch(/no "nickname" claim/);
  // Asking Ipsilon for the nickname in the ID token (claims parameter) still brings no groups.
  const named = await idTokenFor('alice', ipsilon, { id_token: { nickname: null } });
  const res = await api('/api/me', named, {}, ipsilon);
  expect(res.status).toBe(401);
  expect(((await res.json()) as any).error.message).toMatch(/no "groups" claim/);
  const cred = await api('/api/credentials', named, { method: 'POST' }, ipsilon);
  expect(cred.status).toBe(401);
});
