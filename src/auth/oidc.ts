// Our wrapper around @hono/oidc-auth. The library keeps the session in a signed JWT cookie; we
// cover its traps: (1) its default claims hook keeps only sub/email, so groups would vanish on
// refresh: our hook merges them on every token response; (2) an unreachable issuer during login
// or refresh became a 500 and a logout: here it is a 503 and the session cookie stays;
// (3) its logout never ends the issuer session: ours continues to end_session_endpoint.
import {
  type OidcAuth,
  type OidcClaimsHook,
  getAuth,
  getAuthorizationServer,
  initOidcAuthMiddleware,
  oidcAuthMiddleware,
  processOAuthCallback,
  revokeSession,
} from '@hono/oidc-auth';
import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { HTTPException } from 'hono/http-exception';
import type { AppConfig } from '../config.js';
import { AppError } from '../errors.js';
import { createBearerVerifier } from './bearer.js';
import type { Identity } from './identity.js';

export const SESSION_COOKIE = 'fdwg-session';
const DISCOVERY_TTL_MS = 10 * 60 * 1000;

type AuthorizationServer = Awaited<ReturnType<typeof getAuthorizationServer>>;

function asStringArray(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
}
const asString = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

export function identityFromSession(auth: OidcAuth | null): Identity | null {
  if (!auth) return null;
  const username = asString(auth.username);
  const sub = asString(auth.sub);
  if (!username || !sub) return null;
  return {
    sub,
    username,
    email: asString(auth.email) ?? null,
    name: asString(auth.name) ?? null,
    groups: asStringArray(auth.groups) ?? [],
  };
}

/** True for failures to reach the issuer at all (as opposed to the issuer saying no). */
function isNetworkError(err: unknown): boolean {
  if (err instanceof HTTPException) return false;
  const e = err as { name?: string; code?: string; cause?: { code?: string } };
  return (
    e?.name === 'TypeError' ||
    e?.name === 'AbortError' ||
    e?.name === 'TimeoutError' ||
    /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|ETIMEDOUT|UND_ERR)/.test(e?.cause?.code ?? e?.code ?? '')
  );
}

export function createOidc(config: AppConfig) {
  const { oidc } = config;
  let discovery: { as: AuthorizationServer; at: number } | undefined;

  const claimsHook: OidcClaimsHook = async (orig, claims) => {
    const pick = (name: string) => claims?.[name] ?? orig?.[name];
    return {
      sub: asString(claims?.sub) ?? asString(orig?.sub) ?? '',
      email: asString(pick('email')) ?? '',
      username: asString(pick(oidc.usernameClaim)) ?? asString(orig?.username) ?? '',
      name: asString(pick('name')) ?? '',
      // A refreshed ID token may omit groups: keep the last ones the issuer sent.
      groups: asStringArray(claims?.[oidc.groupsClaim]) ?? asStringArray(orig?.groups) ?? [],
    };
  };

  const init = initOidcAuthMiddleware({
    OIDC_ISSUER: oidc.issuer,
    OIDC_CLIENT_ID: oidc.clientId,
    OIDC_CLIENT_SECRET: oidc.clientSecret,
    OIDC_SCOPES: oidc.scopes,
    OIDC_AUTH_SECRET: config.sessionSecret,
    OIDC_REDIRECT_URI: `${config.publicUrl}/auth/callback`,
    OIDC_COOKIE_NAME: SESSION_COOKIE,
    OIDC_AUTH_EXPIRES: String(12 * 3600),
    OIDC_AUTH_REFRESH_INTERVAL: String(config.sessionRefreshSeconds ?? 15 * 60),
  });

  /** Configures the library for this request and reuses discovery metadata across requests. */
  const setup: MiddlewareHandler = async (c, next) =>
    init(c, async () => {
      c.set('oidcClaimsHook', claimsHook);
      if (discovery && Date.now() - discovery.at < DISCOVERY_TTL_MS) c.set('oidcAuthorizationServer', discovery.as);
      await next();
    });

  async function authorizationServer(c: Context): Promise<AuthorizationServer> {
    try {
      const as = await getAuthorizationServer(c);
      if (!discovery || discovery.as !== as) discovery = { as, at: Date.now() };
      return as;
    } catch (err) {
      throw new AppError('idp_unavailable', 'The sign-in service is not reachable right now. Try again in a minute.', {
        cause: errorName(err),
      });
    }
  }

  const verifyBearer = createBearerVerifier(config, async () => {
    const as = discovery?.as;
    if (as?.jwks_uri) return as.jwks_uri;
    throw new AppError('idp_unavailable', 'The sign-in service has not been reached yet; try again in a moment.');
  });

  /**
   * Sets c.var.identity from a bearer token (API callers) or from the session cookie, refreshing
   * it when due; never logs anyone out on a network error.
   */
  const loadIdentity = createMiddleware<{ Variables: { identity: Identity | null } }>(async (c, next) => {
    const authorization = c.req.header('authorization');
    if (authorization !== undefined) {
      const token = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
      if (!token || !c.req.path.startsWith('/api/')) {
        throw new AppError('unauthenticated', 'Use "Authorization: Bearer <token>" on /api routes only.');
      }
      await authorizationServer(c);
      c.set('identity', await verifyBearer(token));
      return next();
    }
    let auth: OidcAuth | null = null;
    try {
      auth = await getAuth(c);
    } catch (err) {
      if (isNetworkError(err)) {
        throw new AppError('idp_unavailable', 'The sign-in service is not reachable, so your session cannot be renewed right now. Try again in a minute; you stay signed in.');
      }
      // A malformed or foreign cookie: treat as signed out.
      auth = null;
    }
    c.set('identity', identityFromSession(auth));
    await next();
  });

  /** GET /auth/login: hands over to the library, which redirects to the issuer when needed. */
  const login: MiddlewareHandler = async (c, next) => {
    // Discover afresh: a sign-in is rare, and this is where an unreachable issuer should show.
    c.set('oidcAuthorizationServer', undefined as never);
    await authorizationServer(c);
    try {
      return await oidcAuthMiddleware()(c, next);
    } catch (err) {
      if (err instanceof HTTPException && err.message === 'Invalid session') {
        throw new AppError('idp_unavailable', 'The sign-in service did not answer. Try again in a minute.');
      }
      throw err;
    }
  };

  /** GET /auth/callback: completes the code flow; returns the identity that just signed in. */
  async function callback(c: Context): Promise<{ response: Response; identity: Identity }> {
    await authorizationServer(c);
    let captured: OidcAuth | null = null;
    c.set('oidcClaimsHook', async (orig, claims, res) => {
      const merged = await claimsHook(orig, claims, res);
      captured = merged as OidcAuth;
      return merged;
    });
    let response: Response;
    try {
      response = await processOAuthCallback(c);
    } catch (err) {
      if (isNetworkError(err)) {
        throw new AppError('idp_unavailable', 'The sign-in service is not reachable right now. Try again in a minute.');
      }
      const message = err instanceof Error ? err.message : 'unknown error';
      throw new AppError('bad_request', 'Sign-in did not complete (the link may be stale or was used twice). Please sign in again.', {
        reason: message.replace(/^OAuth2Error: /, '').slice(0, 200),
      });
    }
    const identity = identityFromSession(captured);
    if (!identity) {
      throw new AppError('bad_request', `The identity provider did not send a username (claim "${oidc.usernameClaim}").`);
    }
    return { response, identity };
  }

  /**
   * Ends the gate session and returns where the browser should go next: the issuer's
   * end_session_endpoint when it has one, so that signing out really signs out.
   */
  async function logout(c: Context): Promise<string> {
    try {
      await revokeSession(c);
    } catch {
      // Refresh-token revocation is best effort; the cookie is gone either way.
    }
    const home = `${config.publicUrl}/`;
    const as = discovery?.as ?? (await authorizationServer(c).catch(() => undefined));
    if (!as?.end_session_endpoint) return home;
    const url = new URL(as.end_session_endpoint);
    url.searchParams.set('client_id', oidc.clientId);
    url.searchParams.set('post_logout_redirect_uri', home);
    return url.toString();
  }

  return { setup, loadIdentity, login, callback, logout, issuerOrigin: new URL(oidc.issuer).origin };
}

function errorName(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 200) : 'unknown';
}

export type Oidc = ReturnType<typeof createOidc>;
