// Gate-minted tokens for the command line: both sign-in flows (loopback with PKCE, device code)
// walked through the real gate and issuer, and every way a token is refused.
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type TestGate, startTestGate } from './support/gate.js';
import { HttpSession, formField, signIn } from './support/http-session.js';
import { controlRows } from './support/seed.js';

let gate: TestGate;
beforeAll(async () => {
  gate = await startTestGate({ demoMessages: 200, config: { cliPollSeconds: 1 } });
});
afterAll(async () => {
  await gate?.close();
});

const b64url = (b: Buffer) => b.toString('base64url');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const api = async (path: string, init: RequestInit = {}, token?: string) => {
  const res = await fetch(`${gate.url}${path}`, {
    ...init,
    redirect: 'manual',
    headers: { ...(init.headers as Record<string, string>), ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json().catch(() => null)) as any };
};
const postForm = (s: HttpSession, path: string, fields: Record<string, string>) =>
  s.request(`${gate.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: gate.url },
    body: new URLSearchParams(fields).toString(),
  });

const control = <T,>(sql: string, params: unknown[] = []) => controlRows<T>(gate, sql, params);

/** A browser session signed in, agreement accepted for members; returns it and its form token. */
async function browserFor(username: string): Promise<{ s: HttpSession; csrf: string }> {
  const s = new HttpSession();
  const { res } = await signIn(s, gate.url, username, `${username}-demo`);
  const html = await res.text();
  const csrf = formField(html, '_csrf')!;
  const version = formField(html, 'version');
  if (version) expect((await postForm(s, '/agreement', { _csrf: csrf, version })).status).toBe(303);
  return { s, csrf };
}

/** Device style end to end: start, confirm in the browser, poll. */
async function deviceToken(s: HttpSession, csrf: string, clientName = 'fdwg test'): Promise<string> {
  const started = await api('/api/cli/device', json({ clientName }));
  expect(started.status).toBe(200);
  const page = await s.request(started.body.verificationUriComplete);
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(formField(html, 'userCode')).toBe(started.body.userCode);
  // What asks, and since when: a code someone else started long ago should look wrong.
  expect(html).toContain(clientName);
  expect(html).toContain('just now');
  const done = await postForm(s, '/cli/device', { _csrf: csrf, userCode: started.body.userCode, decision: 'allow' });
  expect(done.status).toBe(200);
  expect(await done.text()).toContain('Command line signed in');
  const issued = await api('/api/cli/token', json({ grantType: 'device_code', deviceCode: started.body.deviceCode }));
  expect(issued.status, JSON.stringify(issued.body)).toBe(200);
  return issued.body.token;
}

describe('device-style sign-in', () => {
  test('pending, too fast, confirmed: a token that works on the API; the code is single use', async () => {
    const { s, csrf } = await browserFor('alice');
    const started = await api('/api/cli/device', json({ clientName: 'fdwg on jupyter-7' }));
    expect(started.body).toMatchObject({ userCode: expect.stringMatching(/^[A-Z]{4}-[A-Z]{4}$/), expiresIn: 600, interval: 1 });
    const poll = () => api('/api/cli/token', json({ grantType: 'device_code', deviceCode: started.body.deviceCode }));
    expect((await poll()).body.error.code).toBe('authorization_pending');
    const fast = await poll();
    expect(fast.status).toBe(429);
    expect(fast.body.error.code).toBe('slow_down');

    // The code as typed by hand: lower case, no dash.
    const typed = started.body.userCode.replace('-', '').toLowerCase();
    expect((await postForm(s, '/cli/device', { _csrf: csrf, userCode: typed, decision: 'allow' })).status).toBe(200);
    await sleep(1100);
    const issued = await poll();
    expect(issued.status).toBe(200);
    expect(issued.body).toMatchObject({ tokenType: 'Bearer', username: 'alice' });
    const me = await api('/api/me', {}, issued.body.token);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ username: 'alice', admitted: true });
    await sleep(1100);
    expect((await poll()).status).toBe(410);

    const logged = await control<{ details: any }>(`SELECT details FROM audit_events WHERE action = 'token.issued' AND subject = 'alice'`);
    expect(logged.at(-1)!.details.client).toBe('fdwg on jupyter-7');
  });

  test('refused in the browser: access_denied; wrong codes are limited per session', async () => {
    const { s, csrf } = await browserFor('bob');
    const started = await api('/api/cli/device', json({}));
    expect((await postForm(s, '/cli/device', { _csrf: csrf, userCode: started.body.userCode, decision: 'deny' })).status).toBe(200);
    const denied = await api('/api/cli/token', json({ grantType: 'device_code', deviceCode: started.body.deviceCode }));
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('access_denied');

    const other = await api('/api/cli/device', json({}));
    for (let i = 0; i < 5; i++) {
      const wrong = await postForm(s, '/cli/device', { _csrf: csrf, userCode: 'BBBB-BBBB', decision: 'allow' });
      expect(wrong.status).toBe(400);
    }
    // Even the right code is refused now: no guessing in a loop.
    const limited = await postForm(s, '/cli/device', { _csrf: csrf, userCode: other.body.userCode, decision: 'allow' });
    expect(limited.status).toBe(429);
    expect(await limited.text()).toContain('Too many wrong codes');
  });
});

describe('loopback sign-in (RFC 8252)', () => {
  const pkce = () => {
    const verifier = b64url(randomBytes(32));
    return { verifier, challenge: b64url(createHash('sha256').update(verifier).digest()) };
  };
  const authorizeUrl = (redirect: string, challenge: string, state = 'state-123456') =>
    `${gate.url}/cli/authorize?${new URLSearchParams({ redirect_uri: redirect, state, code_challenge: challenge, code_challenge_method: 'S256', client_name: 'fdwg on laptop' })}`;

  test('signed out: sign in first and come back; Allow redirects to the listener with a code bound to the verifier', async () => {
    const { verifier, challenge } = pkce();
    const redirect = 'http://127.0.0.1:45678/callback';
    const s = new HttpSession();
    const start = await s.follow(authorizeUrl(redirect, challenge));
    // The issuer's login form, then back to this page.
    const action = (await start.res.text()).match(/<form[^>]*action="([^"]*\/login)"/)![1]!;
    const back = await s.postForm(new URL(action.replace(/&amp;/g, '&'), start.url), { username: 'dave', password: 'dave-demo' });
    expect(back.url.pathname).toBe('/cli/authorize');
    let html = await back.res.text();
    if (back.res.status === 403) {
      // dave has not accepted the agreement yet: the page says so, and after accepting he retries.
      expect(html).toContain('data-use agreement');
      const home = await s.request(`${gate.url}/`);
      const homeHtml = await home.text();
      await postForm(s, '/agreement', { _csrf: formField(homeHtml, '_csrf')!, version: formField(homeHtml, 'version')! });
      html = await (await s.request(authorizeUrl(redirect, challenge))).text();
    }
    expect(html).toContain('Sign in the command line?');
    expect(html).toContain('fdwg on laptop');
    const fields = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!.replace(/&amp;/g, '&')]));
    const allowed = await postForm(s, '/cli/authorize', { ...fields, decision: 'allow' });
    expect(allowed.status).toBe(303);
    const location = new URL(allowed.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(redirect);
    expect(location.searchParams.get('state')).toBe('state-123456');
    const code = location.searchParams.get('code')!;

    const wrong = await api('/api/cli/token', json({ grantType: 'authorization_code', code, codeVerifier: pkce().verifier, redirectUri: redirect }));
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.message).toMatch(/PKCE/);
    // One use, even a failed one.
    const again = await api('/api/cli/token', json({ grantType: 'authorization_code', code, codeVerifier: verifier, redirectUri: redirect }));
    expect(again.status).toBe(410);

    const second = await postForm(s, '/cli/authorize', { ...fields, decision: 'allow' });
    const code2 = new URL(second.headers.get('location')!).searchParams.get('code')!;
    const issued = await api('/api/cli/token', json({ grantType: 'authorization_code', code: code2, codeVerifier: verifier, redirectUri: redirect }));
    expect(issued.status).toBe(200);
    expect((await api('/api/me', {}, issued.body.token)).body.username).toBe('dave');

    const cancelled = await postForm(s, '/cli/authorize', { ...fields, decision: 'cancel' });
    expect(new URL(cancelled.headers.get('location')!).searchParams.get('error')).toBe('access_denied');
  });

  test('only a loopback listener may receive the code; S256 only', async () => {
    const { s } = await browserFor('alice');
    for (const bad of ['https://evil.example/cb', 'http://localhost.evil.example:80/', 'http://127.0.0.1/nop', 'http://user@127.0.0.1:1234/']) {
      const res = await s.request(authorizeUrl(bad, pkce().challenge));
      expect(res.status, bad).toBe(400);
      expect(await res.text()).toContain('redirect_uri must be');
    }
    const plain = await s.request(authorizeUrl('http://127.0.0.1:1234/cb', pkce().challenge).replace('S256', 'plain'));
    expect(plain.status).toBe(400);
  });
});

describe('a token is refused, with the reason', () => {
  let keyRow: { kid: string; privateKey: CryptoKey };
  beforeAll(async () => {
    // A key of our own, known to the gate (public half only), to sign tokens the gate would not.
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = `test-${randomBytes(4).toString('hex')}`;
    await control(`INSERT INTO token_signing_keys (kid, public_jwk, private_jwk, retire_at) VALUES ($1, $2, 'not-used', now() + interval '1 hour')`, [kid, await exportJWK(publicKey)]);
    keyRow = { kid, privateKey };
  });
  const forge = (claims: { aud?: string; exp?: number; jti?: string }) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: keyRow.kid })
      .setIssuer(gate.url)
      .setAudience(claims.aud ?? gate.url)
      .setSubject('x')
      .setJti(claims.jti ?? 'no-such-token')
      .setIssuedAt()
      .setExpirationTime(claims.exp ?? Math.floor(Date.now() / 1000) + 600)
      .sign(keyRow.privateKey);

  test('expired, wrong audience, tampered, unknown kid, unknown token: each 401 JSON with a reason, never a redirect', async () => {
    const { s, csrf } = await browserFor('alice');
    const real = await deviceToken(s, csrf);
    const [h, p, sig] = real.split('.');
    const tampered = `${h}.${b64url(Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), username: 'bob' })))}.${sig}`;
    const unknownKid = `${b64url(Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'nope', typ: 'JWT' })))}.${p}.${sig}`;
    const cases: [string, string, RegExp][] = [
      ['expired', await forge({ exp: Math.floor(Date.now() / 1000) - 60 }), /expired/],
      ['wrong audience', await forge({ aud: 'https://another.gate' }), /"aud" claim is not for this gate/],
      ['tampered', tampered, /not a valid token/],
      ['unknown kid', unknownKid, /key this gate does not know/],
      ['no such token', await forge({}), /no record of it/],
      ['not a JWT', 'abc.def', /not a valid token/],
    ];
    for (const [name, token, reason] of cases) {
      const res = await api('/api/me', {}, token);
      expect(res.status, name).toBe(401);
      expect(res.type, name).toContain('application/json');
      expect(res.body.error.message, name).toMatch(reason);
    }
  });

  test('fdwg logout, a browser sign-out, an admin, and leaving the FDWG each end a token on its next request', async () => {
    const { s, csrf } = await browserFor('alice');
    const one = await deviceToken(s, csrf);
    const two = await deviceToken(s, csrf);
    expect((await api('/api/cli/logout', { method: 'POST' }, one)).body).toEqual({ ended: true });
    expect((await api('/api/me', {}, one)).body.error.message).toMatch(/signed out/);
    expect((await api('/api/me', {}, two)).status).toBe(200); // the other token is untouched

    // Signing out of the browser session that approved a token ends it.
    await postForm(s, '/auth/logout', { _csrf: csrf });
    expect((await api('/api/me', {}, two)).status).toBe(401);

    const bob = await browserFor('bob');
    const bobToken = await deviceToken(bob.s, bob.csrf);
    const erin = await browserFor('erin');
    expect((await postForm(erin.s, '/admin/sessions/end', { _csrf: erin.csrf, username: 'bob' })).status).toBe(303);
    expect((await api('/api/me', {}, bobToken)).body.error.message).toMatch(/an admin ended/);

    const dave = await browserFor('dave');
    const daveToken = await deviceToken(dave.s, dave.csrf);
    gate.issuer.setAccountGroups('dave', ['packager']);
    try {
      await signIn(new HttpSession(), gate.url, 'dave', 'dave-demo'); // the next sign-in shows he left
      expect((await api('/api/me', {}, daveToken)).body.error.message).toMatch(/no longer an FDWG member/);
    } finally {
      gate.issuer.setAccountGroups('dave', ['fdwg', 'fdwg-approvers']);
    }
  });

  test('keys rotate without signing anyone out; a retired key stops verifying', async () => {
    const { s, csrf } = await browserFor('alice');
    const before = await deviceToken(s, csrf);
    const oldKid = JSON.parse(Buffer.from(before.split('.')[0]!, 'base64url').toString()).kid;
    const newKid = await gate.services.tokens.rotate();
    expect(newKid).not.toBe(oldKid);
    const after = await deviceToken(s, csrf);
    expect(JSON.parse(Buffer.from(after.split('.')[0]!, 'base64url').toString()).kid).toBe(newKid);
    const jwks = (await (await fetch(`${gate.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string; kty: string; d?: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
    expect(jwks.keys.every((k) => k.kty === 'EC' && k.d === undefined)).toBe(true); // public halves only
    expect((await api('/api/me', {}, before)).status).toBe(200);
    expect((await api('/api/me', {}, after)).status).toBe(200);

    await control(`UPDATE token_signing_keys SET retire_at = now() - interval '1 second' WHERE kid = $1`, [oldKid]);
    // Keys are cached for a minute; a token with a kid the cache lacks reloads them (at most once
    // a second), which is how another instance's new key is found too.
    await sleep(1100);
    const [h, p, sig] = after.split('.');
    const unknownKid = `${b64url(Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(h!, 'base64url').toString()), kid: 'reload' })))}.${p}.${sig}`;
    expect((await api('/api/me', {}, unknownKid)).status).toBe(401);
    const retired = await api('/api/me', {}, before);
    expect(retired.status).toBe(401);
    expect(retired.body.error.message).toMatch(/key this gate does not know/);
    expect((await api('/api/me', {}, after)).status).toBe(200);
  });
});
