// Sign-in with OpenID Connect, the way a Fedora Accounts (Ipsilon) client must do it.
//
// Ipsilon puts only sub/iss/aud/exp(iat+600)/iat/auth_time/nonce/acr/amr/azp into the ID token;
// every scope claim (nickname, email, groups, agreements) comes from the UserInfo endpoint, and a
// refresh answers with no ID token at all. So after the code exchange and after every refresh we
// ask UserInfo (OIDC_CLAIMS_SOURCE=userinfo, the default) and merge its claims over the ID
// token's; its `sub` must be the ID token's (OpenID Connect Core 5.3.2).
//
// @hono/oidc-auth does the redirect and the code exchange (state, nonce, PKCE). Its session, a
// signed cookie holding the refresh token that outlives sign-out, is not used: the session lives
// server-side (sessions.ts) and the browser holds only a random token. Every call to the issuer
// has a timeout; an issuer that does not answer is a 503, and nobody is signed out by it.
import { initOidcAuthMiddleware, oidcAuthMiddleware, processOAuthCallback } from '@hono/oidc-auth';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import { HTTPException } from 'hono/http-exception';
import * as oauth2 from 'oauth4webapi';
import type { AppConfig } from '../config.js';
import { within } from '../deadline.js';
import { AppError } from '../errors.js';
import type { AppEnv } from '../types.js';
import type { Identity } from './identity.js';
import type { LiveSession } from './sessions.js';

export const SESSION_COOKIE = 'fdwg-session';
const CONTINUE_COOKIE = 'fdwg-continue';
// The library's own session cookie: set during the code exchange, never sent to the browser.
const LIBRARY_COOKIE = 'fdwg-oidc-exchange';
const DISCOVERY_TTL_MS = 10 * 60 * 1000;
/** No call to the issuer may hold a request longer than this. */
export const ISSUER_TIMEOUT_MS = 5_000;

type AuthorizationServer = oauth2.AuthorizationServer;
type Claims = Record<string, unknown>;

const asString = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
const asStringArray = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
const timeout = () => AbortSignal.timeout(ISSUER_TIMEOUT_MS);

/** UserInfo spoke for somebody else than the ID token: never merge, never admit. */
class SubjectMismatch extends Error {}

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

const unavailable = (message: string, err?: unknown) =>
  new AppError('idp_unavailable', message, err === undefined ? undefined : { cause: errorName(err) });

/** The issuer answered but left out a claim the gate cannot decide without (a 503: nothing changes). */
class IncompleteClaims extends AppError {
  constructor(message: string) {
    super('idp_unavailable', message);
  }
}

export function createOidc(config: AppConfig) {
  const { oidc } = config;
  const claimsSource = oidc.claimsSource ?? 'userinfo';
  const client: oauth2.Client = {
    client_id: oidc.clientId,
    client_secret: oidc.clientSecret,
    token_endpoint_auth_method: 'client_secret_basic',
  };
  let discovery: { as: AuthorizationServer; at: number } | undefined;

  async function discover(fresh = false): Promise<AuthorizationServer> {
    if (!fresh && discovery && Date.now() - discovery.at < DISCOVERY_TTL_MS) return discovery.as;
    try {
      const issuer = new URL(oidc.issuer);
      const as = await oauth2.processDiscoveryResponse(issuer, await oauth2.discoveryRequest(issuer, { signal: timeout }));
      discovery = { as, at: Date.now() };
      return as;
    } catch (err) {
      throw unavailable('The sign-in service is not reachable right now. Try again in a minute.', err);
    }
  }

  /** The identity in the issuer's claims: UserInfo (by default) merged over the ID token. */
  async function identityFrom(as: AuthorizationServer, accessToken: string, idClaims: Claims | undefined, expectedSub: string, previous?: Identity): Promise<Identity> {
    let claims: Claims = { ...(idClaims ?? {}) };
    if (claimsSource === 'userinfo') {
      const info = await oauth2.processUserInfoResponse(
        as,
        client,
        oauth2.skipSubjectCheck,
        await oauth2.userInfoRequest(as, client, accessToken, { signal: timeout }),
      );
      if (info.sub !== expectedSub) throw new SubjectMismatch();
      claims = { ...claims, ...info };
    } else if (!idClaims && previous) {
      // A refresh without a new ID token says nothing new: keep what the last one said.
      return previous;
    }
    const username = asString(claims[oidc.usernameClaim]);
    if (!username) {
      throw new AppError('bad_request', `The identity provider did not send a username (claim "${oidc.usernameClaim}").`);
    }
    // No groups claim at all is the issuer (or the client's scopes) failing, not a person in no
    // group: read as "no groups" it would end every analyst's access at their next sign-in.
    const groups = asStringArray(claims[oidc.groupsClaim]);
    if (!groups) {
      throw new IncompleteClaims(`The identity provider did not send group memberships (claim "${oidc.groupsClaim}"), so the gate cannot tell who is an FDWG member. Nothing was changed; try again later, or ask an admin to check the gate's scopes.`);
    }
    return {
      sub: expectedSub,
      username,
      email: asString(claims.email) ?? null,
      name: asString(claims.name) ?? null,
      groups,
    };
  }

  const init = initOidcAuthMiddleware({
    OIDC_ISSUER: oidc.issuer,
    OIDC_CLIENT_ID: oidc.clientId,
    OIDC_CLIENT_SECRET: oidc.clientSecret,
    OIDC_SCOPES: oidc.scopes,
    OIDC_AUTH_SECRET: config.sessionSecret,
    OIDC_REDIRECT_URI: `${config.publicUrl}/auth/callback`,
    OIDC_COOKIE_NAME: LIBRARY_COOKIE,
  });

  /** Configures the library for this request with our (time-limited) discovery. */
  const setup: MiddlewareHandler = async (c, next) => init(c, next);

  /**
   * Ipsilon answers a refused grant with HTTP 200 and an `error` member (its Token endpoint sets no
   * status on errors), which oauth4webapi takes for a malformed answer: read it as the refusal it is,
   * or a person whose refresh token Fedora no longer honours would get "try again later" forever.
   */
  async function refusedWith200(response: Response): Promise<oauth2.OAuth2Error | undefined> {
    if (response.status !== 200) return undefined;
    const body: unknown = await response.clone().json().catch(() => undefined);
    const error = body && typeof body === 'object' ? (body as Record<string, unknown>).error : undefined;
    return typeof error === 'string' ? { error, error_description: asString((body as Record<string, unknown>).error_description) } : undefined;
  }

  /** Refreshes a session that is due: new tokens, UserInfo again. Null when it has ended. */
  async function refresh(c: Context<AppEnv>, session: LiveSession): Promise<Identity | null> {
    const store = c.get('services').sessions;
    const refreshToken = await store.claimRefresh(session.id);
    // undefined: another request is refreshing right now; null: the issuer gave no refresh token,
    // so what it said at sign-in holds until the session's lifetime ends.
    if (!refreshToken) return session.identity;
    try {
      const as = await discover();
      const response = await oauth2.refreshTokenGrantRequest(as, client, refreshToken, { signal: timeout });
      const result = (await refusedWith200(response)) ?? (await oauth2.processRefreshTokenResponse(as, client, response));
      if (oauth2.isOAuth2Error(result)) {
        // The issuer ended its side (revoked, expired, the person was disabled): so do we.
        await store.end(session.id, 'issuer_refused', 'system:gate');
        return null;
      }
      const idClaims = oauth2.getValidatedIdTokenClaims(result) as Claims | undefined;
      if (idClaims && idClaims.sub !== session.identity.sub) throw new SubjectMismatch();
      const identity = await identityFrom(as, result.access_token, idClaims, session.identity.sub, session.identity);
      await store.refreshed(session.id, identity, result.refresh_token);
      return identity;
    } catch (err) {
      if (err instanceof SubjectMismatch) {
        await store.end(session.id, 'issuer_refused', 'system:gate');
        return null;
      }
      if (err instanceof AppError && err.code !== 'idp_unavailable') throw err;
      await store.releaseRefresh(session.id);
      // The issuer answered, without what the gate needs: say that, not "not reachable".
      if (err instanceof IncompleteClaims) throw err;
      throw unavailable('The sign-in service is not reachable, so your session cannot be renewed right now. Try again in a minute; you stay signed in.', err);
    }
  }

  /**
   * Sets c.var.identity from a gate token (CLI and scripts) or from the session cookie; either is
   * checked against its server-side row on every request, and a cookie session is refreshed with
   * the issuer when due.
   */
  const loadIdentity = createMiddleware<AppEnv>(async (c, next) => {
    c.set('session', null);
    c.set('token', null);
    const authorization = c.req.header('authorization');
    if (authorization !== undefined) {
      const token = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
      if (!token || !c.req.path.startsWith('/api/')) {
        throw new AppError('unauthenticated', 'Use "Authorization: Bearer <token>" on /api routes only.');
      }
      const { tokens, sessions } = c.get('services');
      const jti = await tokens.verify(token);
      const session = await sessions.loadToken(jti);
      if (!session) throw new AppError('unauthenticated', `Bearer token refused: ${await sessions.whyEnded(jti)}. Sign in again (fdwg login).`);
      c.set('identity', session.identity);
      c.set('token', { jti });
      admissionRead(c, session);
      return next();
    }
    const token = getCookie(c, SESSION_COOKIE);
    const session = token ? await c.get('services').sessions.load(token) : null;
    if (token && !session) deleteCookie(c, SESSION_COOKIE, { path: '/' });
    let identity = session?.identity ?? null;
    if (session?.refreshDue) {
      identity = await refresh(c, session);
      if (!identity) deleteCookie(c, SESSION_COOKIE, { path: '/' });
      else await c.get('services').signIns.refreshed(session.identity, identity, session.id);
    }
    c.set('identity', identity);
    c.set('session', identity && session ? { id: session.id } : null);
    // A refresh may have changed who this is: then the guard reads admission afresh.
    if (session && identity === session.identity) admissionRead(c, session);
    await next();
  });

  /** GET /auth/login: hands over to the library, which redirects to the issuer. */
  const login: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (c.get('identity')) return c.redirect('/', 302);
    // Discover afresh: a sign-in is rare, and this is where an unreachable issuer should show.
    c.set('oidcAuthorizationServer', await discover(true));
    try {
      return await oidcAuthMiddleware()(c, next);
    } catch (err) {
      if (isNetworkError(err) || (err instanceof HTTPException && err.message === 'Invalid session')) {
        throw unavailable('The sign-in service did not answer. Try again in a minute.', err);
      }
      throw err;
    }
  };

  /**
   * GET /auth/callback: completes the code flow, asks UserInfo, starts a gate session and returns
   * the redirect that sets its cookie, plus who signed in.
   */
  async function callback(c: Context<AppEnv>, admit: (identity: Identity, sessionId: string) => Promise<void>): Promise<Response> {
    const as = await discover();
    c.set('oidcAuthorizationServer', as);
    let tokens: oauth2.OpenIDTokenEndpointResponse | undefined;
    let idClaims: Claims | undefined;
    c.set('oidcClaimsHook', async (_orig, claims, response) => {
      tokens = response as oauth2.OpenIDTokenEndpointResponse;
      idClaims = claims as Claims | undefined;
      return { sub: asString(claims?.sub) ?? '' };
    });
    let exchanged: Response;
    try {
      exchanged = await withDeadline(processOAuthCallback(c));
    } catch (err) {
      if (isNetworkError(err)) throw unavailable('The sign-in service is not reachable right now. Try again in a minute.', err);
      const message = err instanceof Error ? err.message : 'unknown error';
      throw new AppError('bad_request', 'Sign-in did not complete (the link may be stale or was used twice). Please sign in again.', {
        reason: message.replace(/^OAuth2Error: /, '').slice(0, 200),
      });
    }
    const sub = asString(idClaims?.sub);
    if (!tokens || !sub) throw new AppError('bad_request', 'The identity provider sent no ID token subject. Please sign in again.');
    let identity: Identity;
    try {
      identity = await identityFrom(as, tokens.access_token, idClaims, sub);
    } catch (err) {
      if (err instanceof SubjectMismatch) {
        throw new AppError('unauthenticated', 'Sign-in refused: the identity provider\'s UserInfo answer is about a different person than its ID token.');
      }
      if (err instanceof AppError) throw err;
      throw unavailable('The sign-in service did not answer with your profile. Try again in a minute.', err);
    }

    const store = c.get('services').sessions;
    const session = await store.create(identity, tokens.refresh_token);
    await admit(identity, session.id);
    // Keep what the library set (its state, nonce and verifier cookies are being deleted) except
    // its own session cookie, which must never reach the browser.
    const cookies = exchanged.headers.getSetCookie().filter((line) => !line.startsWith(`${LIBRARY_COOKIE}=`));
    c.header('set-cookie', undefined);
    for (const line of cookies) c.header('set-cookie', line, { append: true });
    setCookie(c, SESSION_COOKIE, session.token, {
      path: '/',
      httpOnly: true,
      secure: true,
      sameSite: 'Lax',
      maxAge: store.lifetimeSeconds,
    });
    // The library would continue to /auth/login (where the flow began); we go to the page that sent
    // the person to sign in (a CLI sign-in page), else the start page.
    const next = getCookie(c, CONTINUE_COOKIE);
    deleteCookie(c, CONTINUE_COOKIE, { path: '/' });
    return c.redirect(next && isLocalPath(next) ? next : '/', 302);
  }

  /**
   * Ends the gate session (the row, so every copy of the cookie stops working), revokes the
   * refresh token where the issuer can, and returns where the browser should go next: the
   * issuer's end_session_endpoint when it has one, so that signing out really signs out; else
   * (Ipsilon has none) the start page, which says the issuer may still remember the person.
   */
  async function logout(c: Context<AppEnv>, identity: Identity): Promise<string> {
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    const session = c.get('session');
    const ended = session ? await c.get('services').sessions.end(session.id, 'logout', identity.username) : null;
    const as = await discover().catch(() => undefined);
    if (ended?.refreshToken && as?.revocation_endpoint) {
      // Best effort: the gate session is over either way.
      await oauth2.revocationRequest(as, client, ended.refreshToken, { signal: timeout }).catch(() => undefined);
    }
    const home = `${config.publicUrl}/`;
    if (!as?.end_session_endpoint) return `${home}?done=signed-out`;
    const url = new URL(as.end_session_endpoint);
    url.searchParams.set('client_id', oidc.clientId);
    url.searchParams.set('post_logout_redirect_uri', home);
    return url.toString();
  }

  /** For /healthz: whether the issuer answers its discovery document (at most every 10 s asked). */
  let pinged: { at: number; result: Promise<void> } | undefined;
  function ping(): Promise<void> {
    if (!pinged || Date.now() - pinged.at > 10_000) {
      pinged = { at: Date.now(), result: discover(true).then(() => undefined) };
    }
    return pinged.result;
  }

  return { setup, loadIdentity, login, callback, logout, ping, issuerOrigin: new URL(oidc.issuer).origin };
}

/**
 * The admission facts came with the session row (one statement per request): the access guard
 * answers from them instead of asking the control database again in the same request.
 */
function admissionRead(c: Context<AppEnv>, session: LiveSession): void {
  const gate = c.get('services').gate;
  const status = gate.statusFrom(session.identity, session.admission);
  c.set('access', { standing: status.standing, status: Promise.resolve(status) });
}

const isLocalPath = (path: string) => path.startsWith('/') && !path.startsWith('//') && !path.includes('\\');

/** Sends a signed-out visitor to sign in and, afterwards, back to this page. */
export function signInThenReturn(c: Context<AppEnv>): Response {
  const here = new URL(c.req.url);
  setCookie(c, CONTINUE_COOKIE, `${here.pathname}${here.search}`, { path: '/', httpOnly: true, secure: true, sameSite: 'Lax', maxAge: 900 });
  return c.redirect('/auth/login', 303);
}

/** The library's code exchange takes no signal: bound it from outside. */
const withDeadline = <T,>(work: Promise<T>) =>
  within(work, ISSUER_TIMEOUT_MS, () => Object.assign(new Error('issuer timed out'), { name: 'TimeoutError' }));

function errorName(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 200) : 'unknown';
}

export type Oidc = ReturnType<typeof createOidc>;
