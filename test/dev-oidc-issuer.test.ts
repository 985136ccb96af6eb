// Drives the bundled development OIDC provider like a browser + relying party would: plain fetch,
// manual redirects and cookies, PKCE S256, client_secret_basic.
import { createHash, randomBytes } from 'node:crypto';
import { freePort } from '../src/dev/net.js';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { demoAccounts } from '../src/dev/demo-accounts.js';
import { HttpSession } from './support/http-session.js';
import { FEDORA_AGREEMENTS_SCOPE, FEDORA_GROUPS_SCOPE, startDevIssuer, type DevIssuer } from '../src/dev/oidc-issuer.js';

const CLIENT_ID = 'fdwg-access-gate';
const CLIENT_SECRET = 'test-client-secret-0123456789abcdef';
const REDIRECT_URI = 'http://localhost:9999/callback';
const POST_LOGOUT_URI = 'http://localhost:9999/logged-out';
const FEDORA_SCOPE = `openid email profile ${FEDORA_GROUPS_SCOPE} ${FEDORA_AGREEMENTS_SCOPE}`;


/** Just enough of a browser: a cookie jar honouring Path, and no automatic redirects. */

function b64url(buf: Buffer): string {
  return buf.toString('base64url');
}

function hiddenInputs(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/?>/g)) out[m[1]!] = m[2]!;
  return out;
}

function formAction(html: string, which = 0): string {
  const actions = [...html.matchAll(/<form[^>]*action="([^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&'));
  const action = actions[which];
  if (!action) throw new Error(`no form action in page:\n${html}`);
  return action;
}

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint: string;
  jwks_uri: string;
  end_session_endpoint: string;
  revocation_endpoint: string;
  scopes_supported: string[];
  claims_supported: string[];
  code_challenge_methods_supported: string[];
  token_endpoint_auth_methods_supported: string[];
  grant_types_supported: string[];
}

interface TokenResponse {
  access_token: string;
  id_token: string;
  refresh_token?: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

let issuer: DevIssuer;
let disco: Discovery;
let jwks: ReturnType<typeof createRemoteJWKSet>;

beforeAll(async () => {
  issuer = await startDevIssuer({
    port: await freePort(),
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [REDIRECT_URI],
        post_logout_redirect_uris: [POST_LOGOUT_URI],
      },
    ],
    accounts: demoAccounts,
    // RP-initiated logout and revocation (other issuers) are tested here; Ipsilon's shape below.
    logout: 'rp-initiated',
  });
  const res = await fetch(`${issuer.issuer}/.well-known/openid-configuration`);
  expect(res.status).toBe(200);
  disco = (await res.json()) as Discovery;
  jwks = createRemoteJWKSet(new URL(disco.jwks_uri));
});

afterAll(async () => {
  await issuer?.close();
});

/** Starts an authorization request and follows redirects to the login page. */
async function startAuthorization(browser: HttpSession, scope = FEDORA_SCOPE, extra: Record<string, string> = {}) {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const state = b64url(randomBytes(12));
  const nonce = b64url(randomBytes(12));
  const url = new URL(disco.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope,
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  }).toString();
  const res = await browser.request(url);
  return { res, verifier, state, nonce };
}

/** Follows issuer-internal redirects; stops at a non-redirect or at a redirect to the client. */
async function follow(browser: HttpSession, res: Response): Promise<{ res: Response; location?: URL; url?: URL }> {
  let current = res;
  let url: URL | undefined;
  for (let i = 0; i < 10; i++) {
    const loc = current.headers.get('location');
    if (current.status < 300 || current.status >= 400 || !loc) return { res: current, url };
    const next = new URL(loc, issuer.issuer);
    if (next.origin !== new URL(issuer.issuer).origin) return { res: current, location: next };
    url = next;
    current = await browser.request(next);
  }
  throw new Error('too many redirects');
}

async function submitLogin(browser: HttpSession, loginHtml: string, username: string, password: string) {
  const action = new URL(formAction(loginHtml), issuer.issuer);
  return browser.request(action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password }),
  });
}

async function tokenRequest(params: Record<string, string>): Promise<Response> {
  return fetch(disco.token_endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(params),
  });
}

/** The authorization-code grant for our registered redirect URI. */
const exchangeCode = (code: string, verifier: string) =>
  tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier });

async function userinfo(accessToken: string): Promise<Record<string, unknown>> {
  const res = await fetch(disco.userinfo_endpoint, { headers: { authorization: `Bearer ${accessToken}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

async function verifyIdToken(idToken: string, nonce?: string): Promise<JWTPayload & Record<string, unknown>> {
  const { payload, protectedHeader } = await jwtVerify(idToken, jwks, { issuer: issuer.issuer, audience: CLIENT_ID });
  expect(protectedHeader.alg).toBe('RS256');
  if (nonce !== undefined) expect(payload.nonce).toBe(nonce);
  return payload as JWTPayload & Record<string, unknown>;
}

/** Full login for a fresh (or given) browser; returns the tokens and the verified ID token claims. */
async function loginAs(username: string, password: string, opts: { browser?: HttpSession; scope?: string; extra?: Record<string, string> } = {}) {
  const browser = opts.browser ?? new HttpSession();
  const { res, verifier, state, nonce } = await startAuthorization(browser, opts.scope, opts.extra);
  const page = await follow(browser, res);
  expect(page.res.status).toBe(200);
  const html = await page.res.text();
  const done = await follow(browser, await submitLogin(browser, html, username, password));
  expect(done.location?.origin + (done.location?.pathname ?? '')).toBe(REDIRECT_URI);
  expect(done.location!.searchParams.get('state')).toBe(state);
  const code = done.location!.searchParams.get('code');
  expect(code).toBeTruthy();
  const tokenRes = await exchangeCode(code!, verifier);
  expect(tokenRes.status).toBe(200);
  const tokens = (await tokenRes.json()) as TokenResponse;
  const claims = await verifyIdToken(tokens.id_token, nonce);
  return { browser, tokens, claims };
}

describe('dev OIDC issuer', () => {
  test('discovery advertises the Fedora scopes, claims, PKCE S256, logout and revocation', () => {
    expect(disco.issuer).toBe(issuer.issuer);
    expect(issuer.issuer).toMatch(/^http:\/\/localhost:\d+$/);
    expect(disco.scopes_supported).toEqual(
      expect.arrayContaining(['openid', 'email', 'profile', FEDORA_GROUPS_SCOPE, FEDORA_AGREEMENTS_SCOPE, 'groups']),
    );
    expect(disco.claims_supported).toEqual(
      expect.arrayContaining(['sub', 'nickname', 'email', 'name', 'groups', 'agreements']),
    );
    expect(disco.code_challenge_methods_supported).toEqual(['S256']);
    expect(disco.token_endpoint_auth_methods_supported).toContain('client_secret_basic');
    expect(disco.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']));
    expect(disco.end_session_endpoint).toBe(`${issuer.issuer}/session/end`);
    expect(disco.revocation_endpoint).toBeTruthy();
  });

  test('the login page is a real form listing the demo accounts', async () => {
    const browser = new HttpSession();
    const { res } = await startAuthorization(browser);
    const page = await follow(browser, res);
    expect(page.url?.pathname).toMatch(/^\/interaction\/[\w-]+$/);
    expect(page.res.status).toBe(200);
    expect(page.res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.res.text();
    expect(html).toContain('<title>FDWG demo identity provider</title>');
    expect(html).toContain('name="username"');
    expect(html).toContain('name="password"');
    expect(html).toMatch(/<button type="submit">Sign in<\/button>/);
    expect(html).toContain('Demo accounts');
    for (const a of demoAccounts) {
      expect(html).toContain(`<code>${a.username}</code>`);
      expect(html).toContain(`<code>${a.password}</code>`);
    }
  });

  test('alice logs in as at Ipsilon: the ID token holds no scope claims, 600 s, acr "0", amr a JSON string; UserInfo has them', async () => {
    const { tokens, claims } = await loginAs('alice', 'alice-demo');
    expect(tokens.token_type).toBe('Bearer');
    for (const name of ['nickname', 'preferred_username', 'email', 'name', 'groups', 'agreements']) expect(claims[name]).toBeUndefined();
    expect(typeof claims.sub).toBe('string');
    expect(claims.sub).not.toBe('alice');
    expect(claims.exp! - claims.iat!).toBe(600);
    expect(claims.acr).toBe('0');
    expect(claims.amr).toBe('[]');

    const info = await userinfo(tokens.access_token);
    expect(info).toMatchObject({ sub: claims.sub, nickname: 'alice', email: 'alice@example.org', name: 'Alice Analyst', groups: ['fdwg'], agreements: ['FPCA'] });
  });

  test('a claim asked for by name in the claims parameter\'s id_token member goes into the ID token', async () => {
    const { claims } = await loginAs('alice', 'alice-demo', { extra: { claims: JSON.stringify({ id_token: { nickname: null } }) } });
    expect(claims.nickname).toBe('alice');
    expect(claims.groups).toBeUndefined();
  });

  test('the plain `groups` scope also yields the groups claim; without a groups scope there is none', async () => {
    const plain = await loginAs('bob', 'bob-demo', { scope: 'openid email profile groups' });
    const info = await userinfo(plain.tokens.access_token);
    expect(info.groups).toEqual(['fdwg', 'fdwg-approvers']);
    expect(info.nickname).toBe('bob');
    expect(info.agreements).toBeUndefined();

    const none = await loginAs('carol', 'carol-demo', { scope: 'openid email profile' });
    const noneInfo = await userinfo(none.tokens.access_token);
    expect(noneInfo.nickname).toBe('carol');
    expect(noneInfo.groups).toBeUndefined();
  });

  test('a refresh token is issued without offline_access; the refresh answers with no ID token, as Ipsilon does', async () => {
    const { tokens, claims } = await loginAs('alice', 'alice-demo');
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.scope.split(' ')).not.toContain('offline_access');
    const res = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
    expect(res.status).toBe(200);
    const refreshed = (await res.json()) as Partial<TokenResponse>;
    expect(refreshed.access_token).toBeTruthy();
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.id_token).toBeUndefined();
    expect(await userinfo(refreshed.access_token!)).toMatchObject({ sub: claims.sub, nickname: 'alice', groups: ['fdwg'] });
  });

  test('a wrong password re-renders the login with an error and issues no code', async () => {
    const browser = new HttpSession();
    const { res, verifier } = await startAuthorization(browser);
    const page = await follow(browser, res);
    const html = await page.res.text();

    const bad = await submitLogin(browser, html, 'alice', 'not-her-password');
    expect(bad.status).toBe(200);
    expect(bad.headers.get('location')).toBeNull();
    const badHtml = await bad.text();
    expect(badHtml).toContain('Incorrect username or password.');
    expect(badHtml).toContain('name="password"');
    expect(badHtml).toContain('value="alice"'); // username kept
    expect(badHtml).not.toContain('not-her-password');

    const unknown = await submitLogin(browser, html, 'eve', 'alice-demo');
    expect(unknown.status).toBe(200);
    expect(await unknown.text()).toContain('Incorrect username or password.');

    // The same interaction still accepts the right password afterwards.
    const done = await follow(browser, await submitLogin(browser, badHtml, 'alice', 'alice-demo'));
    const code = done.location?.searchParams.get('code');
    expect(code).toBeTruthy();
    const tokenRes = await exchangeCode(code!, verifier);
    expect(tokenRes.status).toBe(200);
  });

  test('PKCE is required', async () => {
    const browser = new HttpSession();
    const url = new URL(disco.authorization_endpoint);
    url.search = new URLSearchParams({
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'openid',
      state: 'xyz',
    }).toString();
    const res = await browser.request(url);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(REDIRECT_URI);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('code')).toBeNull();
  });

  test('a wrong code_verifier is rejected at the token endpoint', async () => {
    const browser = new HttpSession();
    const { res } = await startAuthorization(browser);
    const html = await (await follow(browser, res)).res.text();
    const done = await follow(browser, await submitLogin(browser, html, 'alice', 'alice-demo'));
    const tokenRes = await exchangeCode(done.location!.searchParams.get('code')!, b64url(randomBytes(32)));
    // Ipsilon answers a refused grant with HTTP 200 and an error member.
    expect(tokenRes.status).toBe(200);
    expect(((await tokenRes.json()) as { error: string }).error).toBe('invalid_grant');
  });

  test('setAccountGroups shows at the next sign-in; a refresh still sees the snapshot of its sign-in (Ipsilon)', async () => {
    const first = await loginAs('mallory', 'mallory-demo');
    expect((await userinfo(first.tokens.access_token)).groups).toEqual(['packager']);
    issuer.setAccountGroups('mallory', ['packager', 'fdwg']);
    try {
      const second = await loginAs('mallory', 'mallory-demo');
      expect((await userinfo(second.tokens.access_token)).groups).toEqual(['packager', 'fdwg']);
      const res = await tokenRequest({ grant_type: 'refresh_token', refresh_token: first.tokens.refresh_token! });
      const refreshed = (await res.json()) as TokenResponse;
      expect((await userinfo(refreshed.access_token)).groups).toEqual(['packager']);
    } finally {
      issuer.setAccountGroups('mallory', ['packager']);
    }
    // The shared demoAccounts array is not modified by the issuer.
    expect(demoAccounts.find((a) => a.username === 'mallory')!.groups).toEqual(['packager']);
    expect(() => issuer.setAccountGroups('nobody', [])).toThrow(/unknown demo account/);
  });

  test('a signed-in browser is not asked for the password again (IdP session)', async () => {
    const { browser } = await loginAs('bob', 'bob-demo');
    const { res } = await startAuthorization(browser);
    const done = await follow(browser, res);
    expect(done.location?.origin + (done.location?.pathname ?? '')).toBe(REDIRECT_URI);
    expect(done.location?.searchParams.get('code')).toBeTruthy();
  });

  test('RP-initiated logout ends at the post_logout_redirect_uri and ends the IdP session', async () => {
    const { browser, tokens } = await loginAs('alice', 'alice-demo');
    const url = new URL(disco.end_session_endpoint);
    url.search = new URLSearchParams({
      client_id: CLIENT_ID,
      post_logout_redirect_uri: POST_LOGOUT_URI,
      state: 'bye',
    }).toString();
    const res = await browser.request(url);
    expect(res.status).toBe(200);
    const html = await res.text();
    // The page auto-submits the sign-out form; do what the browser's script would.
    expect(html).toContain("document.getElementById('op.logoutForm').submit();");
    const inputs = hiddenInputs(html);
    expect(inputs.logout).toBe('yes');
    expect(inputs.xsrf).toBeTruthy();
    const confirm = await browser.request(new URL(formAction(html), issuer.issuer), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(inputs),
    });
    expect(confirm.status).toBe(303);
    expect(confirm.headers.get('location')).toBe(`${POST_LOGOUT_URI}?state=bye`);

    // The IdP session is gone: the next authorization shows the login page again...
    const again = await follow(browser, (await startAuthorization(browser)).res);
    expect(again.res.status).toBe(200);
    expect(await again.res.text()).toContain('name="password"');
    // ...and the grant (with its refresh token) was revoked.
    const refresh = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
    expect(refresh.status).toBe(200); // Ipsilon's way of refusing
    expect(((await refresh.json()) as { error: string }).error).toBe('invalid_grant');
  });

  test('logout without an IdP session still ends at the post_logout_redirect_uri', async () => {
    const browser = new HttpSession();
    const url = new URL(disco.end_session_endpoint);
    url.search = new URLSearchParams({ client_id: CLIENT_ID, post_logout_redirect_uri: POST_LOGOUT_URI }).toString();
    const res = await browser.request(url);
    expect(res.status).toBe(200);
    const html = await res.text();
    const inputs = hiddenInputs(html);
    expect(inputs.logout).toBe('yes');
    const confirm = await browser.request(new URL(formAction(html), issuer.issuer), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(inputs),
    });
    expect(confirm.status).toBe(303);
    expect(confirm.headers.get('location')).toBe(POST_LOGOUT_URI);
  });

  test('refresh tokens can be revoked by the client (as @hono/oidc-auth does at logout)', async () => {
    const { tokens } = await loginAs('bob', 'bob-demo');
    const res = await fetch(disco.revocation_endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token: tokens.refresh_token!, token_type_hint: 'refresh_token' }),
    });
    expect(res.status).toBe(200);
    const refresh = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
    expect(refresh.status).toBe(200); // Ipsilon's way of refusing
    expect(((await refresh.json()) as { error: string }).error).toBe('invalid_grant');
  });

  test('endGrants: the person is disabled at the issuer; their refresh is refused with HTTP 200 and an error, a bad client still gets 401, an unknown token at UserInfo 400', async () => {
    const { tokens } = await loginAs('carol', 'carol-demo');
    expect(await issuer.endGrants('carol')).toBeGreaterThan(0);
    const refused = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
    expect(refused.status).toBe(200);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_grant');

    const badClient = await fetch(disco.token_endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${CLIENT_ID}:wrong`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x' }),
    });
    expect(badClient.status).toBe(401);

    const info = await fetch(disco.userinfo_endpoint, { headers: { authorization: 'Bearer not-a-token' } });
    expect(info.status).toBe(400);
    expect(info.headers.get('www-authenticate')).toBeNull();
    expect(await info.json()).toEqual({ error: 'invalid_token' });
  });

  test('as at Ipsilon (the default), discovery lists no end_session_endpoint and no revocation_endpoint; the issuer\'s own /logout page signs out', async () => {
    const ipsilon = await startDevIssuer({ port: await freePort(), clients: [], accounts: demoAccounts });
    try {
      const d = (await (await fetch(`${ipsilon.issuer}/.well-known/openid-configuration`)).json()) as Partial<Discovery>;
      expect(d.userinfo_endpoint).toBeTruthy();
      expect(d.end_session_endpoint).toBeUndefined();
      expect(d.revocation_endpoint).toBeUndefined();
      expect(ipsilon.logoutUrl).toBe(`${ipsilon.issuer}/logout`);
      const browser = new HttpSession();
      const page = await browser.follow(ipsilon.logoutUrl);
      expect(page.res.status).toBe(200);
      const html = await page.res.text();
      expect(formAction(html)).toBe(`${ipsilon.issuer}/session/end/confirm`);
      expect(hiddenInputs(html).logout).toBe('yes');
    } finally {
      await ipsilon.close();
    }
  });

  test('close() returns promptly even with keep-alive connections open', async () => {
    const other = await startDevIssuer({ port: await freePort(), clients: [], accounts: demoAccounts });
    const res = await fetch(`${other.issuer}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    await res.text();
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('dev OIDC issuer, the kinder shape of other issuers (claimsInIdToken, live UserInfo)', () => {
  test('scope claims in the ID token, 3600 s, and a refresh that returns an ID token with the groups of now', async () => {
    const kind = await startDevIssuer({
      port: await freePort(),
      clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [REDIRECT_URI], post_logout_redirect_uris: [POST_LOGOUT_URI] }],
      accounts: demoAccounts,
      claimsInIdToken: true,
      userinfo: 'live',
    });
    const saved = { issuer, disco, jwks };
    try {
      issuer = kind;
      disco = (await (await fetch(`${kind.issuer}/.well-known/openid-configuration`)).json()) as Discovery;
      jwks = createRemoteJWKSet(new URL(disco.jwks_uri));
      const { tokens, claims } = await loginAs('alice', 'alice-demo');
      expect(claims).toMatchObject({ nickname: 'alice', groups: ['fdwg'], email: 'alice@example.org' });
      expect(claims.exp! - claims.iat!).toBe(3600);
      kind.setAccountGroups('alice', ['packager']);
      const res = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
      const refreshed = (await res.json()) as TokenResponse;
      expect((await verifyIdToken(refreshed.id_token)).groups).toEqual(['packager']);
      expect((await userinfo(refreshed.access_token)).groups).toEqual(['packager']);
    } finally {
      ({ issuer, disco, jwks } = saved);
      await kind.close();
    }
  });
});
