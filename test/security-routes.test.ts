// The shared security suite (the Unkey pattern): every route the app registers, pages and API, is
// asked by every persona, and each answer must be the rule table's (src/access/rules.ts). A new
// route without an action, or an answer the table does not give, fails here. Every refusal of a
// recorded action must be on the access log, and the header links must be the table's too.
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { assertEveryRouteDeclared, guard, routeActions } from '../src/access/guard.js';
import { type Action, actions, navLinks } from '../src/access/rules.js';
import type { AppEnv } from '../src/types.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { type Persona, personas } from './support/personas.js';
import { type Check, describeChecks, gateRoutes, recordedRefusals, walkRoutes } from './support/route-walk.js';
import { controlRows } from './support/seed.js';

let gate: TestGate;
let people: Persona[];

beforeAll(async () => {
  gate = await startTestGate({ demoMessages: 200, config: { cliPollSeconds: 1 } });
  people = await personas(gate);
});
afterAll(async () => {
  await gate?.close();
});

/**
 * Which action each route must declare: written out here, apart from the routes, so that a new
 * route (or one whose action changed) fails until this list, and the README's table, say so.
 */
const expectedActions: Record<string, Action> = {
  'GET /healthz': 'health',
  'GET /healthz/live': 'health',
  'GET /healthz/ready': 'health',
  'GET /metrics': 'metrics',
  'GET /.well-known/jwks.json': 'health',
  'GET /openapi.json': 'public',
  'GET /api/docs': 'public',
  'POST /api/cli/device': 'public',
  'POST /api/cli/token': 'public',
  'GET /auth/login': 'signin',
  'GET /auth/callback': 'signin',
  'POST /auth/logout': 'signout',
  'POST /api/cli/logout': 'signout',
  'GET /': 'home.read',
  'GET /api/me': 'me.read',
  'POST /agreement': 'agreement.accept',
  'POST /api/agreement': 'agreement.accept',
  'POST /credentials': 'credentials.issue',
  'POST /api/credentials': 'credentials.issue',
  'POST /credentials/revoke': 'credentials.revoke',
  'DELETE /api/credentials': 'credentials.revoke',
  'GET /requests': 'requests.read',
  'GET /api/requests': 'requests.read',
  'GET /api/datasets': 'requests.read',
  'POST /requests': 'requests.create',
  'POST /api/requests': 'requests.create',
  'POST /requests/:id/withdraw': 'requests.withdraw',
  'POST /api/requests/:id/withdraw': 'requests.withdraw',
  'POST /requests/:id/relinquish': 'requests.relinquish',
  'POST /api/requests/:id/relinquish': 'requests.relinquish',
  'GET /approvals': 'approvals.read',
  'GET /api/approvals': 'approvals.read',
  'POST /approvals/:id': 'requests.review',
  'POST /api/requests/:id/reviews': 'requests.review',
  'POST /grants/:id/revoke': 'grants.revoke',
  'POST /api/grants/:id/revoke': 'grants.revoke',
  'GET /audit': 'audit.read',
  'GET /audit/events/:id': 'audit.read',
  'GET /audit/analysts/:username': 'audit.read',
  'GET /audit/export.csv': 'audit.read',
  'GET /audit/export.jsonl': 'audit.read',
  'GET /api/audit/events': 'audit.read',
  'GET /api/audit/events/:id': 'audit.read',
  'GET /api/audit/chain': 'audit.read',
  'GET /api/audit/subjects/:username': 'audit.subjects',
  'GET /audit/subjects': 'audit.subjects',
  'GET /audit/subjects/:username': 'audit.subjects',
  'GET /admin': 'admin.read',
  'POST /admin/sessions/end': 'admin.sessions.end',
  'GET /cli/authorize': 'cli.login',
  'POST /cli/authorize': 'cli.login',
  'GET /cli/device': 'cli.login',
  'POST /cli/device': 'cli.login',
};

describe('every route declares an action', () => {
  test('each route of the app declares one, the one it should, and every action of the table is some route\'s', () => {
    const routes = gateRoutes(gate);
    const declared = Object.fromEntries(routes.map((r) => [`${r.method} ${r.path}`, r.actions.join(' + ') || '(none)']));
    expect(declared).toEqual(expectedActions);
    const used = new Set(routes.flatMap((r) => r.actions));
    expect(Object.keys(actions).filter((a) => !used.has(a as Action))).toEqual([]);
  });

  test('an app with a route that declares none does not start', () => {
    const app = new Hono<AppEnv>();
    app.get('/declared', guard('public'), (c) => c.text('ok'));
    app.post('/forgotten', (c) => c.text('ok'));
    expect(() => assertEveryRouteDeclared(app)).toThrow(/Routes without an access action.*POST \/forgotten/);
    expect(routeActions(app).find((r) => r.path === '/declared')!.actions).toEqual(['public']);
  });
});

describe('the walk: every route x every persona', () => {
  let checks: Check[];

  test('every answer is the one the rule table gives (and the one error shape, never a 500)', async () => {
    const routes = gateRoutes(gate);
    checks = await walkRoutes(gate, people, routes);
    expect(people.map((p) => p.name)).toEqual([
      'anonymous', 'mallory', 'alice', 'bob', 'dave', 'carol', 'erin', 'carol+approvers', 'token', 'expired session', 'ended token',
    ]);
    expect(checks.length).toBe(routes.length * people.length);
    const unexpected = checks.filter((c) => !c.ok);
    expect(unexpected.length, describeChecks(unexpected)).toBe(0);
    // The walk is not vacuous: both answers occur for every persona that can be refused.
    for (const p of people) {
      const mine = checks.filter((c) => c.persona === p.name);
      expect(mine.some((c) => 'passes' in c.expected), p.name).toBe(true);
      expect(mine.some((c) => !('passes' in c.expected)), p.name).toBe(true);
    }
  });

  test('every 403 of a recorded action is on the access log: counted per person, action and minute, one chained event each minute', async () => {
    expect(checks, 'runs after the walk').toBeDefined();
    const expected = recordedRefusals(checks, people);
    expect(expected.size).toBeGreaterThan(10);
    const rows = await controlRows<{ actor: string; action: string; n: number; minutes: number; linked: boolean }>(
      gate,
      `SELECT actor, action, sum(count)::int AS n, count(*)::int AS minutes, bool_and(event_id IS NOT NULL) AS linked
         FROM access_denials GROUP BY actor, action`,
    );
    expect(new Map(rows.map((r) => [`${r.actor} ${r.action}`, r.n]))).toEqual(expected);
    expect(rows.every((r) => r.linked)).toBe(true);
    const events = await controlRows<{ actor: string; attempted: string; n: number }>(
      gate,
      `SELECT actor, details->>'attempted' AS attempted, count(*)::int AS n FROM audit_events WHERE action = 'access.denied' GROUP BY 1, 2`,
    );
    expect(new Map(events.map((e) => [`${e.actor} ${e.attempted}`, e.n]))).toEqual(new Map(rows.map((r) => [`${r.actor} ${r.action}`, r.minutes])));
  });

  // After the log check: these refusals are recorded too.
  test('an unknown route, or a wrong rule, is an unexpected answer', async () => {
    const [route] = gateRoutes(gate).filter((r) => r.method === 'GET' && r.path === '/api/audit/chain');
    // The same route with the wrong action in the table's place: alice would be let through.
    const wrong = await walkRoutes(gate, people.filter((p) => p.name === 'alice'), [{ ...route!, actions: ['me.read'] }]);
    expect(wrong.map((c) => [c.ok, c.status])).toEqual([[false, 403]]);
    const undeclared = await walkRoutes(gate, people.filter((p) => p.name === 'carol'), [{ method: 'GET', path: '/api/new-thing', actions: [], signInRedirect: false }]);
    expect(undeclared.map((c) => c.ok)).toEqual([false]);
  });
});

describe('header links', () => {
  test('each persona with a page sees exactly the sections the table opens to it', async () => {
    for (const p of people.filter((x) => x.via === 'cookie' && !x.dead)) {
      const html = await (await p.request('/')).text();
      const nav = /<nav class="top"[^>]*>(.*?)<\/nav>/s.exec(html)?.[1] ?? '';
      const hrefs = [...nav.matchAll(/href="([^"]+)"/g)].map((m) => m[1]);
      expect(hrefs, p.name).toEqual(navLinks(p.standing!).map((l) => l.href));
    }
    // What the table gives, spelled out: the auditor in the approver group gets no Approvals.
    const hrefsOf = (name: string) => navLinks(people.find((p) => p.name === name)!.standing!).map((l) => l.href);
    expect(hrefsOf('alice')).toEqual(['/requests']);
    expect(hrefsOf('bob')).toEqual(['/requests', '/approvals']);
    expect(hrefsOf('erin')).toEqual(['/requests', '/approvals', '/admin']);
    expect(hrefsOf('carol+approvers')).toEqual(['/audit']);
    expect(hrefsOf('mallory')).toEqual([]);
  });
});
