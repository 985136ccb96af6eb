// The walk of the security suite (the Unkey pattern): every route the app registers, pages and
// API, asked by every persona, the answer compared with what the rule table says. A route with no
// action, or an answer other than the table's, is an unexpected answer. No vitest imports (the
// access bench reports the walk's size too).
import { type DeclaredRoute, routeActions } from '../../src/access/guard.js';
import { type Action, type Subject, actions, decide } from '../../src/access/rules.js';
import { createApp } from '../../src/app.js';
import type { TestGate } from './gate-core.js';
import type { Persona } from './personas.js';

/** What the table says: refused with this status (and code, for JSON), or let through. */
export type Expected = { status: number; code?: string; why: string; action?: Action } | { passes: true; why: string };

export interface Check {
  route: DeclaredRoute;
  persona: string;
  expected: Expected;
  status: number;
  code?: string;
  ok: boolean;
  /** Set when the answer is JSON but not the one error shape. */
  badShape?: string;
}

/** The routes of the gate's app, as `createApp` registers them, with their actions. */
export function gateRoutes(gate: TestGate): DeclaredRoute[] {
  const app = createApp({ config: gate.config, policy: gate.policy, controlPool: gate.controlPool, warehousePool: gate.warehousePool }, gate.services);
  return routeActions(app);
}

/** The rule table's answer for `persona` on `route`. */
export function expectedFor(route: DeclaredRoute, p: Persona, agreementVersion: string): Expected {
  const api = route.path.startsWith('/api/');
  const health = route.actions.every((a) => a === 'health');
  // Metrics take the scraper's token (METRICS_TOKEN), never a person's session or gate token.
  if (route.actions.includes('metrics')) return { status: 401, code: 'unauthenticated', why: "metrics: only the scraper's token" };
  // Before any action: a bearer token is for /api only, and a refused one is a 401 there.
  if (p.via === 'bearer' && !health && !api) return { status: 401, code: 'unauthenticated', why: 'a bearer token on a page' };
  if (p.via === 'bearer' && p.dead && !health) return { status: 401, code: 'unauthenticated', why: 'a refused bearer token' };
  const subject: Subject | null = p.dead || !p.standing ? null : { standing: p.standing, agreement: { version: agreementVersion, accepted: p.agreementAccepted } };
  for (const action of route.actions) {
    const refusal = decide(action, subject);
    if (!refusal) continue;
    const why = `${action}: ${refusal.reason}`;
    if (refusal.code === 'unauthenticated') return route.signInRedirect ? { status: 303, why: `${why} (sent to sign in)`, action } : { status: 401, code: 'unauthenticated', why, action };
    return { status: 403, code: refusal.code, why, action };
  }
  return { passes: true, why: route.actions.join(', ') };
}

const ID = '2147483646';

/**
 * One request per route that changes nothing when let through: ids that name nothing, a body no
 * route accepts (so an allowed caller gets its page, a 400 or a 404, never a change of state).
 * The API's body is not even JSON: a route that read its input before checking access would
 * answer the refused with that 400 instead of their 401/403.
 */
export function probe(route: DeclaredRoute, gateUrl: string): { path: string; init: RequestInit } {
  const path = route.path.replace(/:([A-Za-z_]+)(\{[^}]*\})?/g, (_m, name: string) => (name === 'username' ? 'alice' : ID));
  if (route.method === 'GET') return { path, init: { method: 'GET' } };
  const json = path.startsWith('/api/');
  return {
    path,
    init: {
      method: route.method,
      headers: { 'content-type': json ? 'text/plain' : 'application/x-www-form-urlencoded', origin: gateUrl },
      body: 'probe=1',
    },
  };
}

/** The one error shape (src/errors.ts): `{ error: { code, message, requestId, details? } }`, nothing else. */
export function errorShapeProblem(body: unknown): string | undefined {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'not an object';
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== 'error') return `keys ${keys.join(',')}`;
  const e = (body as { error: Record<string, unknown> }).error;
  if (!e || typeof e !== 'object') return 'error is not an object';
  const extra = Object.keys(e).filter((k) => !['code', 'message', 'requestId', 'details'].includes(k));
  if (extra.length) return `error has ${extra.join(',')}`;
  if (typeof e.code !== 'string' || typeof e.message !== 'string' || typeof e.requestId !== 'string') return 'code, message or requestId missing';
  if (/\n\s+at |\.ts:\d+|node_modules|\/src\//.test(JSON.stringify(e))) return 'a stack trace or a source path';
  return undefined;
}

/** Ending a session goes last: `fdwg logout` with the token persona ends that token. */
const order = (r: DeclaredRoute) => (r.actions.includes('signout') ? (r.path.startsWith('/api/') ? 2 : 1) : 0);

/** Walks every route with every persona; returns every check (ok or not). */
export async function walkRoutes(gate: TestGate, people: Persona[], routes = gateRoutes(gate)): Promise<Check[]> {
  const checks: Check[] = [];
  const version = gate.policy.agreement.version;
  for (const route of [...routes].sort((a, b) => order(a) - order(b))) {
    for (const p of people) {
      const expected = route.actions.length === 0 ? { status: -1, why: 'the route declares no action' } : expectedFor(route, p, version);
      const { path, init } = probe(route, gate.url);
      const res = await p.request(path, init);
      const text = await res.text();
      const isJson = (res.headers.get('content-type') ?? '').includes('application/json');
      let code: string | undefined;
      let badShape: string | undefined;
      if (isJson && res.status >= 400) {
        const body = JSON.parse(text) as { error?: { code?: string } };
        code = body.error?.code;
        badShape = errorShapeProblem(body);
      }
      if (res.status >= 500) badShape ??= `a ${res.status}`;
      const ok =
        'passes' in expected
          ? res.status !== 401 && res.status !== 403 && res.status < 500
          : res.status === expected.status && (expected.code === undefined || !isJson || code === expected.code);
      checks.push({ route, persona: p.name, expected, status: res.status, code, ok: ok && !badShape, badShape });
    }
  }
  return checks;
}

/** For a failure message: the unexpected answers, one a line. */
export const describeChecks = (checks: Check[]) =>
  checks
    .map(
      (c) =>
        `${c.route.method} ${c.route.path} as ${c.persona}: got ${c.status}${c.code ? ` ${c.code}` : ''}, the table says ${'passes' in c.expected ? 'let through' : `${c.expected.status}${c.expected.code ? ` ${c.expected.code}` : ''}`} (${c.expected.why})${c.badShape ? `; ${c.badShape}` : ''}`,
    )
    .join('\n');

/** How many refusals of each recorded action each person got in the walk (`actor action` -> n). */
export function recordedRefusals(checks: Check[], people: Persona[]): Map<string, number> {
  const byName = new Map(people.map((p) => [p.name, p]));
  const out = new Map<string, number>();
  for (const c of checks) {
    const p = byName.get(c.persona)!;
    if ('passes' in c.expected || c.expected.status !== 403 || !p.username || !c.expected.action) continue;
    const action = c.expected.action;
    if (!actions[action].recorded) continue;
    const key = `${p.username} ${action}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}
