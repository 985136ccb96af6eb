// The one check in front of every route, pages and API alike: `guard(action)` as the route's first
// handler (`apiRoute({ action })` puts it there for /api). It decides from the rule table, records
// a refusal of a recorded action on the access log, and answers 401/403 in the one error shape.
// `routeActions(app)` reads which action each route declared; the app refuses to start when a
// route declares none.
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { matchedRoutes, routePath } from 'hono/route';
import { int4Id } from '../api/schemas.js';
import { signInThenReturn } from '../auth/oidc.js';
import { AppError } from '../errors.js';
import type { GateStatus } from '../admission/service.js';
import type { AppEnv } from '../types.js';
import { type Action, type Refusal, type Subject, actions, decide, needsAgreement, whoOf } from './rules.js';
import type { DenialRoute } from './denials.js';

const ACTION = Symbol.for('fdwg.access.action');
const SIGN_IN = Symbol.for('fdwg.access.signIn');
// hono's mark on a handler it wrapped with a sub-app's own error handler.
const COMPOSED = '__COMPOSED_HANDLER';

type Guarded = MiddlewareHandler<AppEnv> & { [ACTION]: Action; [SIGN_IN]?: 'redirect' };

/** The guard a handler is, if it is one (seen through hono's wrapping of sub-apps). */
function guardOf(handler: unknown): Guarded | undefined {
  const h = handler as Record<string | symbol, unknown> | undefined;
  const inner = h?.[ACTION] ? h : (h?.[COMPOSED] as Record<string | symbol, unknown> | undefined);
  return inner?.[ACTION] ? (inner as unknown as Guarded) : undefined;
}

/** The action a handler declares, if it is a guard. */
export const actionOf = (handler: unknown): Action | undefined => guardOf(handler)?.[ACTION];

export interface GuardOptions {
  /** GET pages: the signed-out are sent to sign in and brought back, instead of a 401. */
  signIn?: 'redirect';
  /** A page of the route's own for a refusal; undefined falls back to the error page or JSON. */
  refused?: (c: Context<AppEnv>, refusal: Refusal) => Response | undefined | Promise<Response | undefined>;
}

/** The route's action: first handler of every route (pages), put there by `apiRoute` for /api. */
export function guard(action: Action, opts: GuardOptions = {}): MiddlewareHandler<AppEnv> {
  if (!Object.hasOwn(actions, action)) throw new Error(`unknown action ${action}`);
  const mw: MiddlewareHandler<AppEnv> =
    actions[action].who === 'anyone'
      ? async (_c, next) => {
          await next();
        }
      : async (c, next) => {
          const refusal = await authorize(c, action);
          if (refusal) {
            if (refusal.code === 'unauthenticated' && opts.signIn === 'redirect' && c.req.method === 'GET') return signInThenReturn(c);
            const page = await opts.refused?.(c, refusal);
            if (page) return page;
            throw new AppError(refusal.code, refusal.message);
          }
          await next();
        };
  return Object.assign(mw, { [ACTION]: action, [SIGN_IN]: opts.signIn }) as Guarded;
}

/** Where the person asking stands, computed once per request. */
export function standingHere(c: Context<AppEnv>) {
  const identity = c.get('identity');
  if (!identity) return undefined;
  let access = c.get('access');
  if (!access) {
    access = { standing: c.get('services').gate.standing(identity) };
    c.set('access', access);
  }
  return access.standing;
}

/** The asker's admission (standing, agreement, analyst record), read at most once per request. */
export function statusHere(c: Context<AppEnv>): Promise<GateStatus> {
  const identity = c.get('identity');
  if (!identity) throw new AppError('unauthenticated', 'Sign in first (GET /auth/login).');
  standingHere(c);
  const access = c.get('access')!;
  access.status ??= c.get('services').gate.status(identity);
  return access.status;
}

/**
 * Decides `action` for this request; a refusal of a recorded action by someone signed in goes on
 * the access log (`access.denied`, coalesced per person, action and minute) before it is answered.
 */
export async function authorize(c: Context<AppEnv>, action: Action): Promise<Refusal | null> {
  const identity = c.get('identity');
  let subject: Subject | null = null;
  if (identity) {
    const standing = standingHere(c)!;
    subject = { standing };
    if (needsAgreement(action, standing)) subject.agreement = (await statusHere(c)).agreement;
  }
  const refusal = decide(action, subject);
  if (refusal && identity && actions[action].recorded) {
    const rule = actions[action] as { object?: 'request' | 'grant' };
    const id = rule.object ? int4Id.safeParse(c.req.param('id') ?? '') : undefined;
    await c.get('services').denials.record({
      actor: identity.username,
      action,
      ...denialRoute(c),
      code: refusal.code,
      reason: refusal.reason,
      ...(id?.success ? (rule.object === 'request' ? { requestId: id.data } : { grantId: id.data }) : {}),
    });
  }
  return refusal;
}

/** Whether the route this request matched is open to the signed-out (the /api gate asks). */
export const matchedOpenRoute = (c: Context<AppEnv>) =>
  matchedRoutes(c).some((r) => {
    const action = actionOf(r.handler);
    return action !== undefined && whoOf(action).anonymous;
  });

export interface DeclaredRoute {
  method: string;
  path: string;
  /** The guards of the route, in the order they run (normally one). */
  actions: Action[];
  /** A GET that sends the signed-out to sign in (303) instead of answering 401. */
  signInRedirect: boolean;
}

/** Every route of `app` (method and path, `use` middleware aside) with the actions it declares. */
export function routeActions(app: Pick<Hono<AppEnv>, 'routes'>): DeclaredRoute[] {
  const byRoute = new Map<string, DeclaredRoute>();
  for (const r of app.routes) {
    if (r.method === 'ALL') continue;
    const key = `${r.method} ${r.path}`;
    const route = byRoute.get(key) ?? { method: r.method, path: r.path, actions: [], signInRedirect: false };
    const g = guardOf(r.handler);
    if (g) {
      route.actions.push(g[ACTION]);
      if (g[SIGN_IN] === 'redirect' && r.method === 'GET') route.signInRedirect = true;
    }
    byRoute.set(key, route);
  }
  return [...byRoute.values()];
}

/** Throws, naming them, when routes of `app` declare no action: such an app must not serve. */
export function assertEveryRouteDeclared(app: Pick<Hono<AppEnv>, 'routes'>): DeclaredRoute[] {
  const routes = routeActions(app);
  const missing = routes.filter((r) => r.actions.length === 0).map((r) => `${r.method} ${r.path}`);
  if (missing.length) throw new Error(`Routes without an access action (declare one with guard(action) or apiRoute({ action })): ${missing.join(', ')}`);
  return routes;
}

/** Where this request came in, for a refusal a service records (an object rule's, after the guard). */
export function denialRoute(c: Context<AppEnv>): DenialRoute {
  return { method: c.req.method, route: routePath(c), httpRequestId: c.get('requestId') };
}
