// The known traps of @hono/oidc-auth, covered by our wrapper (src/auth/oidc.ts), against the real
// development issuer.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SESSION_COOKIE } from '../src/auth/oidc.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { HttpSession, formField, signIn } from './support/http-session.js';

let gate: TestGate;

beforeAll(async () => {
  // Refresh the session every second so the refresh path runs within the test.
  gate = await startTestGate({ config: { sessionRefreshSeconds: 1 } });
});
afterAll(async () => {
  await gate?.close();
});

const me = async (s: HttpSession) => {
  const res = await s.request(`${gate.url}/api/me`);
  return { res, body: (await res.json()) as any };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('session refresh', () => {
  test('groups survive a token refresh, and a changed membership is picked up by it', async () => {
    const s = new HttpSession();
    await signIn(s, gate.url, 'bob', 'bob-demo');
    const before = await me(s);
    expect(before.body.groups).toEqual(['fdwg', 'fdwg-approvers']);
    const cookieBefore = s.cookie('localhost', SESSION_COOKIE);

    await sleep(2100);
    const after = await me(s);
    expect(after.res.status).toBe(200);
    // A new session cookie proves a refresh happened; the groups are still there.
    expect(s.cookie('localhost', SESSION_COOKIE)).not.toBe(cookieBefore);
    expect(after.body.groups).toEqual(['fdwg', 'fdwg-approvers']);
    expect(after.body.standing.member).toBe(true);

    // Leaving the FDWG at the issuer is seen at the next refresh, without a new login.
    gate.issuer.setAccountGroups('bob', ['packager']);
    try {
      await sleep(2100);
      const left = await me(s);
      expect(left.body.groups).toEqual(['packager']);
      expect(left.body.standing.member).toBe(false);
    } finally {
      gate.issuer.setAccountGroups('bob', ['fdwg', 'fdwg-approvers']);
    }
  });
});

describe('sign-out', () => {
  test('ends the gate session and the issuer session', async () => {
    const s = new HttpSession();
    const { res } = await signIn(s, gate.url, 'alice', 'alice-demo');
    const csrf = formField(await res.text(), '_csrf')!;
    const out = await s.request(`${gate.url}/auth/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: gate.url },
      body: new URLSearchParams({ _csrf: csrf }).toString(),
    });
    expect(out.status).toBe(303);
    const location = new URL(out.headers.get('location')!);
    expect(location.origin).toBe(new URL(gate.issuer.issuer).origin);
    expect(location.searchParams.get('post_logout_redirect_uri')).toBe(`${gate.url}/`);
    expect(s.cookie('localhost', SESSION_COOKIE)).toBeUndefined();

    // Walk the issuer's end-session page the way the browser's auto-submit would.
    const endPage = await s.follow(location);
    const html = await endPage.res.text();
    const action = html.match(/<form[^>]*action="([^"]+)"/)?.[1];
    const fields = Object.fromEntries(
      [...html.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    const done = await s.postForm(new URL(action!.replace(/&amp;/g, '&'), endPage.url), { ...fields, logout: 'yes' });
    expect(done.url.toString()).toBe(`${gate.url}/`);

    const api = await s.request(`${gate.url}/api/me`);
    expect(api.status).toBe(401);
    // Signing in again needs the password: the issuer session is gone too.
    const again = await s.follow(`${gate.url}/auth/login`);
    expect(new URL(again.url).origin).toBe(new URL(gate.issuer.issuer).origin);
    expect(await again.res.text()).toMatch(/name="password"/);
  });
});

describe('an unreachable issuer', () => {
  test('is a clear 503, not a 500, and does not sign anyone out', async () => {
    const s = new HttpSession();
    await signIn(s, gate.url, 'alice', 'alice-demo');
    const cookie = s.cookie('localhost', SESSION_COOKIE);
    expect(cookie).toBeDefined();

    await gate.issuer.close();
    await sleep(2100); // the session now needs a refresh, which cannot reach the issuer

    const api = await s.request(`${gate.url}/api/me`);
    expect(api.status).toBe(503);
    expect(((await api.json()) as any).error.code).toBe('idp_unavailable');
    const page = await s.request(`${gate.url}/`);
    expect(page.status).toBe(503);
    const html = await page.text();
    expect(html).toContain('Sign-in service unavailable');
    expect(html).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    expect(s.cookie('localhost', SESSION_COOKIE)).toBe(cookie);

    const fresh = new HttpSession();
    const login = await fresh.request(`${gate.url}/auth/login`);
    expect(login.status).toBe(503);
  });
});
