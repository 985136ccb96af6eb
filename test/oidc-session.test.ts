// Sign-in the way Fedora Accounts (Ipsilon) really behaves (claims only from UserInfo, a snapshot
// taken at sign-in, refreshes without an ID token), the kinder shape of other issuers, server-side
// sessions that end at sign-out, and an issuer that fails or freezes. All against the real
// development issuer; nothing is mocked.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SESSION_COOKIE } from '../src/auth/oidc.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { HttpSession, formField, signIn } from './support/http-session.js';
import { controlRows } from './support/seed.js';

let gate: TestGate; // Ipsilon-like issuer (the default)
let kind: TestGate; // claims in the ID token too, UserInfo answered live

beforeAll(async () => {
  // Refresh the session every second so the refresh path runs within the test.
  [gate, kind] = await Promise.all([
    startTestGate({ config: { sessionRefreshSeconds: 1 } }),
    startTestGate({ config: { sessionRefreshSeconds: 1 }, issuer: { claimsInIdToken: true, userinfo: 'live' } }),
  ]);
});
afterAll(async () => {
  await Promise.all([gate?.close(), kind?.close()]);
});

const me = async (s: HttpSession, g: TestGate = gate) => {
  const res = await s.request(`${g.url}/api/me`);
  return { res, body: (await res.json()) as any };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const postForm = (s: HttpSession, url: string, fields: Record<string, string>) =>
  s.request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(url).origin },
    body: new URLSearchParams(fields).toString(),
  });

const control = controlRows;

describe('sign-in against an Ipsilon-like issuer', () => {
  test('the username and groups come from UserInfo: a gate reading only the ID token gets no username', async () => {
    const s = new HttpSession();
    await signIn(s, gate.url, 'alice', 'alice-demo');
    const { res, body } = await me(s);
    expect(res.status).toBe(200);
    expect(body.username).toBe('alice');
    expect(body.groups).toEqual(['fdwg']);

    // The same issuer with OIDC_CLAIMS_SOURCE=id_token: Ipsilon's ID token has no nickname.
    const idTokenOnly = await startTestGate({ demoMessages: 200, config: { oidc: { claimsSource: 'id_token' } } });
    try {
      const t = new HttpSession();
      const { res: page } = await signIn(t, idTokenOnly.url, 'alice', 'alice-demo');
      expect(page.status).toBe(400);
      expect(await page.text()).toContain('did not send a username (claim &quot;nickname&quot;)');
      expect((await me(t, idTokenOnly)).res.status).toBe(401);
    } finally {
      await idTokenOnly.close();
    }
  });

  test('no groups claim at all is a 503, not a person in no group: nobody is signed in, recorded or treated as a leaver', async () => {
    // What a client registered without the groups scope sees (or an OIDC_GROUPS_CLAIM naming nothing).
    const noGroups = await startTestGate({ demoMessages: 200, config: { oidc: { groupsClaim: 'fdwg_groups' } } });
    try {
      const s = new HttpSession();
      const { res } = await signIn(s, noGroups.url, 'alice', 'alice-demo');
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('did not send group memberships (claim &quot;fdwg_groups&quot;)');
      expect(s.cookie('localhost', SESSION_COOKIE)).toBeUndefined();
      expect((await me(s, noGroups)).res.status).toBe(401);
      const rows = await control<{ n: number }>(noGroups, `SELECT (SELECT count(*) FROM audit_events WHERE actor = 'alice')::int + (SELECT count(*) FROM gate_sessions)::int AS n`);
      expect(rows[0]!.n).toBe(0);
    } finally {
      await noGroups.close();
    }
  });

  test('no groups claim at a refresh: a 503 that says so, the session kept, and nothing changed once it comes back', async () => {
    const s = new HttpSession();
    await signIn(s, gate.url, 'alice', 'alice-demo');
    expect((await me(s)).body.groups).toEqual(['fdwg']);
    gate.issuer.setFault('userinfo-without-groups');
    try {
      await sleep(1_100); // the gate refreshes every second here
      const { res, body } = await me(s);
      expect(res.status).toBe(503);
      expect(body.error.message).toContain('did not send group memberships (claim "groups")');
    } finally {
      gate.issuer.setFault(null);
    }
    const { res, body } = await me(s);
    expect(res.status).toBe(200);
    expect(body.groups).toEqual(['fdwg']);
  });

  test('a UserInfo answer about another subject refuses the sign-in', async () => {
    gate.issuer.setFault('userinfo-other-sub');
    try {
      const s = new HttpSession();
      const { res } = await signIn(s, gate.url, 'carol', 'carol-demo');
      expect(res.status).toBe(401);
      expect(await res.text()).toContain('different person');
      expect(s.cookie('localhost', SESSION_COOKIE)).toBeUndefined();
      expect((await me(s)).res.status).toBe(401);
      // Neither carol nor the subject UserInfo named was recorded as signed in.
      const logins = await control<{ n: number }>(gate, `SELECT count(*)::int AS n FROM audit_events WHERE action = 'login' AND actor IN ('carol', 'mallory')`);
      expect(logins[0]!.n).toBe(0);
    } finally {
      gate.issuer.setFault(null);
    }
  });

  test('UserInfo down: a 503 at sign-in, a 503 at refresh with the session kept, and service back when it returns', async () => {
    gate.issuer.setFault('userinfo-down');
    try {
      const s = new HttpSession();
      const { res } = await signIn(s, gate.url, 'dave', 'dave-demo');
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('Sign-in service unavailable');
    } finally {
      gate.issuer.setFault(null);
    }

    const s = new HttpSession();
    await signIn(s, gate.url, 'dave', 'dave-demo');
    expect((await me(s)).res.status).toBe(200);
    const cookie = s.cookie('localhost', SESSION_COOKIE);
    gate.issuer.setFault('userinfo-down');
    try {
      await sleep(1100); // now due for a refresh, whose UserInfo call fails
      const down = await me(s);
      expect(down.res.status).toBe(503);
      expect(down.body.error.code).toBe('idp_unavailable');
      expect(s.cookie('localhost', SESSION_COOKIE)).toBe(cookie);
    } finally {
      gate.issuer.setFault(null);
    }
    const back = await me(s);
    expect(back.res.status).toBe(200);
    expect(back.body.username).toBe('dave');
  });

  test('groups survive refreshes that carry no ID token; a group change shows at the next sign-in, as at Fedora, and ends access there', async () => {
    const s = new HttpSession();
    await signIn(s, gate.url, 'bob', 'bob-demo');
    expect((await me(s)).body.groups).toEqual(['fdwg', 'fdwg-approvers']);
    const due = async () =>
      (await control<{ at: Date }>(gate, `SELECT refresh_due_at AS at FROM gate_sessions WHERE username = 'bob' AND ended_at IS NULL`))[0]!.at.getTime();
    const dueBefore = await due();

    await sleep(1100);
    const after = await me(s);
    expect(after.res.status).toBe(200);
    expect(await due()).toBeGreaterThan(dueBefore); // a refresh happened
    expect(after.body.groups).toEqual(['fdwg', 'fdwg-approvers']);

    // Ipsilon's UserInfo is the snapshot taken at sign-in: a refresh does not see the change...
    gate.issuer.setAccountGroups('bob', ['packager']);
    try {
      await sleep(1100);
      expect((await me(s)).body.groups).toEqual(['fdwg', 'fdwg-approvers']);
      // ...the next sign-in does, and leaving the FDWG then ends bob's other sessions.
      const again = new HttpSession();
      await signIn(again, gate.url, 'bob', 'bob-demo');
      const left = await me(again);
      expect(left.body.groups).toEqual(['packager']);
      expect(left.body.standing.member).toBe(false);
      expect((await me(s)).res.status).toBe(401);
      const ended = await control<{ details: any }>(gate, `SELECT details FROM audit_events WHERE action = 'session.ended' AND subject = 'bob'`);
      expect(ended.map((e) => e.details.reason)).toEqual(['left_fdwg']);
    } finally {
      gate.issuer.setAccountGroups('bob', ['fdwg', 'fdwg-approvers']);
    }
  });
});

describe('an issuer that stops honouring a refresh token', () => {
  test('Ipsilon refuses with HTTP 200 and an error member: the gate ends the session (401), it does not answer 503 forever', async () => {
    const s = new HttpSession();
    await signIn(s, gate.url, 'carol', 'carol-demo');
    expect((await me(s)).res.status).toBe(200);
    // carol is disabled at Fedora Accounts: her grant, and so her refresh token, ends there.
    expect(await gate.issuer.endGrants('carol')).toBeGreaterThan(0);
    await sleep(1100); // the refresh comes due
    const after = await me(s);
    expect(after.res.status).toBe(401);
    const rows = await control<{ reason: string | null }>(gate, `SELECT ended_reason AS reason FROM gate_sessions WHERE username = 'carol'`);
    expect(rows.map((r) => r.reason)).toEqual(['issuer_refused']);
    // Signing in again works: a new authorization is a new grant.
    const again = new HttpSession();
    await signIn(again, gate.url, 'carol', 'carol-demo');
    expect((await me(again)).res.status).toBe(200);
  });
});

describe('an issuer that puts claims in the ID token and answers UserInfo live', () => {
  test('signs in reading the ID token only, and with UserInfo; a membership change is seen at the next refresh', async () => {
    const idTokenOnly = await startTestGate({
      demoMessages: 200,
      config: { oidc: { claimsSource: 'id_token' } },
      issuer: { claimsInIdToken: true, userinfo: 'live' },
    });
    try {
      const t = new HttpSession();
      await signIn(t, idTokenOnly.url, 'alice', 'alice-demo');
      const { body } = await me(t, idTokenOnly);
      expect(body.username).toBe('alice');
      expect(body.groups).toEqual(['fdwg']);
    } finally {
      await idTokenOnly.close();
    }

    const s = new HttpSession();
    await signIn(s, kind.url, 'bob', 'bob-demo');
    expect((await me(s, kind)).body.standing.member).toBe(true);
    kind.issuer.setAccountGroups('bob', ['packager']);
    try {
      await sleep(1100);
      const left = await me(s, kind);
      expect(left.body.groups).toEqual(['packager']);
      expect(left.body.standing.member).toBe(false);
    } finally {
      kind.issuer.setAccountGroups('bob', ['fdwg', 'fdwg-approvers']);
    }
  });
});

describe('sign-out', () => {
  test('a cookie saved before sign-out stops working at once: no /api/me, no credentials, no form', async () => {
    const s = new HttpSession();
    const { res } = await signIn(s, gate.url, 'alice', 'alice-demo');
    const html = await res.text();
    const csrf = formField(html, '_csrf')!;
    const saved = s.cookie('localhost', SESSION_COOKIE)!;
    // The cookie is a bare random token: no JWT, nothing of the issuer's (refresh token) in it.
    expect(saved).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const agree = await postForm(s, `${gate.url}/agreement`, { _csrf: csrf, version: formField(html, 'version')! });
    expect(agree.status).toBe(303);

    const out = await postForm(s, `${gate.url}/auth/logout`, { _csrf: csrf });
    expect(out.status).toBe(303);
    expect(s.cookie('localhost', SESSION_COOKIE)).toBeUndefined();

    const replay = (path: string, init: RequestInit = {}) =>
      fetch(`${gate.url}${path}`, { ...init, redirect: 'manual', headers: { ...init.headers, cookie: `${SESSION_COOKIE}=${saved}`, origin: gate.url } });
    expect((await replay('/api/me')).status).toBe(401);
    const cred = await replay('/api/credentials', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(cred.status).toBe(401);
    const form = await replay('/credentials', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf }).toString(),
    });
    expect(form.status).toBe(401);
    const after = await control<{ action: string }>(gate, `SELECT action FROM audit_events WHERE subject = 'alice' AND action IN ('logout', 'credential.issued') ORDER BY id`);
    expect(after.map((e) => e.action)).toEqual(['logout']);
  });

  test('the session cookie is HttpOnly and SameSite=Lax; form tokens differ per sign-in', async () => {
    const tokens: string[] = [];
    for (let i = 0; i < 2; i++) {
      const s = new HttpSession();
      const start = await s.follow(`${gate.url}/auth/login`);
      const action = (await start.res.text()).match(/<form[^>]*action="([^"]*\/login)"/)![1]!;
      // Walk the last hops by hand to read the Set-Cookie of the callback.
      let res = await s.request(new URL(action.replace(/&amp;/g, '&'), start.url), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: 'erin', password: 'erin-demo' }).toString(),
      });
      let url = new URL(res.headers.get('location')!, start.url);
      while (!url.pathname.startsWith('/auth/callback')) {
        res = await s.request(url);
        url = new URL(res.headers.get('location')!, url);
      }
      const callback = await s.request(url);
      const line = callback.headers.getSetCookie().find((l) => l.startsWith(`${SESSION_COOKIE}=`))!;
      expect(line).toMatch(/; HttpOnly/i);
      expect(line).toMatch(/; SameSite=Lax/i);
      expect(callback.headers.getSetCookie().some((l) => l.startsWith('fdwg-oidc-exchange='))).toBe(false);
      const home = await s.request(`${gate.url}/`);
      tokens.push(formField(await home.text(), '_csrf')!);
    }
    expect(tokens[0]).toBeTruthy();
    expect(tokens[0]).not.toBe(tokens[1]);
  });

  test('an admin ends all of a person\'s sessions', async () => {
    const victim = new HttpSession();
    await signIn(victim, gate.url, 'dave', 'dave-demo');
    expect((await me(victim)).res.status).toBe(200);
    const admin = new HttpSession();
    const { res } = await signIn(admin, gate.url, 'erin', 'erin-demo');
    const csrf = formField(await res.text(), '_csrf')!;
    const end = await postForm(admin, `${gate.url}/admin/sessions/end`, { _csrf: csrf, username: 'dave' });
    expect(end.status).toBe(303);
    expect(end.headers.get('location')).toMatch(/ended=[1-9]/);
    expect((await me(victim)).res.status).toBe(401);
    const events = await control<{ actor: string; details: any }>(gate, `SELECT actor, details FROM audit_events WHERE action = 'session.ended' AND subject = 'dave'`);
    expect(events.at(-1)).toMatchObject({ actor: 'erin', details: { reason: 'admin' } });
    // Not an admin: refused.
    const other = new HttpSession();
    const { res: page } = await signIn(other, gate.url, 'dave', 'dave-demo');
    const refused = await postForm(other, `${gate.url}/admin/sessions/end`, { _csrf: formField(await page.text(), '_csrf')!, username: 'erin' });
    expect(refused.status).toBe(403);
  });

  test('at Ipsilon (no end_session_endpoint): ends the gate session, and the start page says Fedora may still remember you, with its sign-out link', async () => {
    const s = new HttpSession();
    const { res } = await signIn(s, gate.url, 'alice', 'alice-demo');
    const csrf = formField(await res.text(), '_csrf')!;
    const out = await postForm(s, `${gate.url}/auth/logout`, { _csrf: csrf });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe(`${gate.url}/?done=signed-out`);
    expect(s.cookie('localhost', SESSION_COOKIE)).toBeUndefined();
    expect((await s.request(`${gate.url}/api/me`)).status).toBe(401);
    const landing = await (await s.request(out.headers.get('location')!)).text();
    expect(landing).toContain('You are signed out of the gate.');
    expect(landing).toContain(`href="${gate.issuer.logoutUrl}"`);
    // The truth at Fedora: the issuer session outlives the gate's, so signing in again is silent...
    const again = await s.follow(`${gate.url}/auth/login`);
    expect(again.url.toString()).toBe(`${gate.url}/`);
    expect((await s.request(`${gate.url}/api/me`)).status).toBe(200);
  });

  test('with an issuer that offers end_session_endpoint (not Ipsilon): ends the gate session and the issuer session', async () => {
    const s = new HttpSession();
    const { res } = await signIn(s, kind.url, 'alice', 'alice-demo');
    const csrf = formField(await res.text(), '_csrf')!;
    const out = await postForm(s, `${kind.url}/auth/logout`, { _csrf: csrf });
    expect(out.status).toBe(303);
    const location = new URL(out.headers.get('location')!);
    expect(location.origin).toBe(new URL(kind.issuer.issuer).origin);
    expect(location.searchParams.get('post_logout_redirect_uri')).toBe(`${kind.url}/`);
    expect(s.cookie('localhost', SESSION_COOKIE)).toBeUndefined();

    // Walk the issuer's end-session page the way the browser's auto-submit would.
    const endPage = await s.follow(location);
    const html = await endPage.res.text();
    const action = html.match(/<form[^>]*action="([^"]+)"/)?.[1];
    const fields = Object.fromEntries(
      [...html.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    const done = await s.postForm(new URL(action!.replace(/&amp;/g, '&'), endPage.url), { ...fields, logout: 'yes' });
    expect(done.url.toString()).toBe(`${kind.url}/`);

    const api = await s.request(`${kind.url}/api/me`);
    expect(api.status).toBe(401);
    // Signing in again needs the password: the issuer session is gone too.
    const again = await s.follow(`${kind.url}/auth/login`);
    expect(new URL(again.url).origin).toBe(new URL(kind.issuer.issuer).origin);
    expect(await again.res.text()).toMatch(/name="password"/);
  });
});

describe('an unreachable issuer', () => {
  test('frozen: /auth/login answers 503 within the issuer timeout, and signing in works again after', async () => {
    kind.issuer.setFault('frozen');
    try {
      const started = Date.now();
      const res = await new HttpSession().request(`${kind.url}/auth/login`);
      expect(res.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(8000);
      // /healthz names the issuer, but stays ready: signed-in people keep working meanwhile.
      const t0 = Date.now();
      const health = await fetch(`${kind.url}/healthz`);
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(health.status).toBe(200);
      expect(((await health.json()) as any).checks.issuer.ok).toBe(false);
    } finally {
      kind.issuer.setFault(null);
    }
    const s = new HttpSession();
    await signIn(s, kind.url, 'alice', 'alice-demo');
    expect((await me(s, kind)).res.status).toBe(200);
  });

  test('down: a clear 503, not a 500, and nobody is signed out', async () => {
    const s = new HttpSession();
    await signIn(s, gate.url, 'alice', 'alice-demo');
    const cookie = s.cookie('localhost', SESSION_COOKIE);
    expect(cookie).toBeDefined();

    await gate.issuer.close();
    await sleep(1100); // the session now needs a refresh, which cannot reach the issuer

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
