// The people the security suite, the fuzzing and the access bench ask as: every kind of caller the
// rule table (src/access/rules.ts) tells apart, each signed in through the real issuer (members
// with the current agreement accepted), plus a gate token, an expired session and an ended token.
// No vitest imports (the bench uses it too).
import { createHash } from 'node:crypto';
import { standingOf } from '../../src/access/standing.js';
import { SESSION_COOKIE } from '../../src/auth/oidc.js';
import type { Standing } from '../../src/auth/identity.js';
import { demoAccounts } from '../../src/dev/demo-accounts.js';
import type { TestGate } from './gate-core.js';
import { HttpSession, formField, signIn } from './http-session.js';
import { controlRows } from './seed.js';

export interface Persona {
  name: string;
  /** Who the gate sees (null: nobody, or a session or token it no longer accepts). */
  username: string | null;
  /** What the rule table decides by; null for the signed-out. */
  standing: Standing | null;
  agreementAccepted: boolean;
  /** How it authenticates: nothing, the session cookie, or `Authorization: Bearer`. */
  via: 'none' | 'cookie' | 'bearer';
  /** A cookie or token the gate has ended or let expire: it counts as nobody. */
  dead: boolean;
  /** The form token of its session (page posts), when it has a live one. */
  csrf?: string;
  request(path: string, init?: RequestInit): Promise<Response>;
}

const groupsOf = (username: string) => demoAccounts.find((a) => a.username === username)!.groups;

const postForm = (s: HttpSession, url: string, fields: Record<string, string>) =>
  s.request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(url).origin },
    body: new URLSearchParams(fields).toString(),
  });

const postJson = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A browser session of `username` (the agreement accepted when `accept` and offered). */
export async function signedInBrowser(gate: TestGate, username: string, accept = true): Promise<{ s: HttpSession; csrf: string; accepted: boolean }> {
  const s = new HttpSession();
  const { res } = await signIn(s, gate.url, username, `${username}-demo`);
  const html = await res.text();
  const csrf = formField(html, '_csrf');
  if (!csrf) throw new Error(`${username}: no form token after signing in (${res.status})`);
  const version = formField(html, 'version');
  if (accept && version) {
    const done = await postForm(s, `${gate.url}/agreement`, { _csrf: csrf, version });
    if (done.status !== 303) throw new Error(`${username}: accepting the agreement answered ${done.status}`);
  }
  return { s, csrf, accepted: accept && version !== undefined };
}

/** A gate token of a browser session, by the device-style sign-in (as `fdwg login --device`). */
export async function deviceToken(gate: TestGate, s: HttpSession, csrf: string): Promise<string> {
  const started = (await (await postJson(`${gate.url}/api/cli/device`, { clientName: 'security suite' })).json()) as { userCode: string; deviceCode: string };
  const confirmed = await postForm(s, `${gate.url}/cli/device`, { _csrf: csrf, userCode: started.userCode, decision: 'allow' });
  if (confirmed.status !== 200) throw new Error(`confirming the device code answered ${confirmed.status}`);
  const issued = await postJson(`${gate.url}/api/cli/token`, { grantType: 'device_code', deviceCode: started.deviceCode });
  const body = (await issued.json()) as { token?: string };
  if (!body.token) throw new Error(`no token: ${JSON.stringify(body)}`);
  return body.token;
}

const cookiePersona = (name: string, username: string, b: { s: HttpSession; csrf: string; accepted: boolean }, standing: Standing, at: (p: string) => string): Persona => ({
  name,
  username,
  standing,
  agreementAccepted: b.accepted,
  via: 'cookie',
  dead: false,
  csrf: b.csrf,
  request: (path, init) => b.s.request(at(path), init),
});

/**
 * Every persona, signed in on `gate`: anonymous, mallory (outsider), alice (analyst), bob and dave
 * (approvers), carol (auditor), carol again while also in the approver group, erin (admin), alice's
 * gate token, an expired browser session and an ended gate token.
 */
export async function personas(gate: TestGate): Promise<Persona[]> {
  const admission = gate.policy.admission;
  const standing = (username: string, groups = groupsOf(username)) => standingOf(groups, admission);
  const at = (path: string) => (path.startsWith('http') ? path : `${gate.url}${path}`);
  const out: Persona[] = [];

  const anon = new HttpSession();
  out.push({ name: 'anonymous', username: null, standing: null, agreementAccepted: false, via: 'none', dead: false, request: (p, i) => anon.request(at(p), i) });

  for (const username of ['mallory', 'alice', 'bob', 'dave', 'carol', 'erin']) {
    const b = await signedInBrowser(gate, username);
    out.push(cookiePersona(username, username, b, standing(username), at));
  }

  // Separation of duties: an auditor the issuer also puts in the approver group.
  const both = ['fdwg-auditors', 'fdwg-approvers'];
  gate.issuer.setAccountGroups('carol', both);
  try {
    const b = await signedInBrowser(gate, 'carol');
    out.push(cookiePersona('carol+approvers', 'carol', b, standing('carol', both), at));
  } finally {
    gate.issuer.setAccountGroups('carol', groupsOf('carol'));
  }

  // Alice's command line: a gate token minted through her browser session.
  const alice = out.find((p) => p.name === 'alice')!;
  const aliceBrowser = await signedInBrowser(gate, 'alice');
  const token = await deviceToken(gate, aliceBrowser.s, aliceBrowser.csrf);
  const bearer = (t: string) => (p: string, i: RequestInit = {}) =>
    fetch(at(p), { ...i, redirect: 'manual', headers: { ...(i.headers as Record<string, string>), authorization: `Bearer ${t}` } });
  out.push({ name: 'token', username: 'alice', standing: alice.standing, agreementAccepted: true, via: 'bearer', dead: false, request: bearer(token) });

  // A browser session past its end (the cookie still sent), and a token ended by `fdwg logout`.
  const old = await signedInBrowser(gate, 'bob');
  const cookie = old.s.cookie('localhost', SESSION_COOKIE)!;
  const id = createHash('sha256').update(cookie).digest('hex');
  await controlRows(gate, `UPDATE gate_sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
  out.push({ name: 'expired session', username: null, standing: null, agreementAccepted: false, via: 'cookie', dead: true, request: (p, i) => old.s.request(at(p), i) });

  const endedToken = await deviceToken(gate, aliceBrowser.s, aliceBrowser.csrf);
  const logout = await bearer(endedToken)('/api/cli/logout', { method: 'POST' });
  if (logout.status !== 200) throw new Error(`fdwg logout answered ${logout.status}`);
  out.push({ name: 'ended token', username: null, standing: null, agreementAccepted: false, via: 'bearer', dead: true, request: bearer(endedToken) });
  return out;
}
