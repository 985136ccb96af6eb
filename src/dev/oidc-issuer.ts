// Development-only OpenID Connect provider that behaves like Fedora Accounts (Ipsilon), never more
// kindly (read in ipsilon/providers/openidc/{auth,api,store}.py):
// - the ID token holds sub/iss/aud/exp/iat/auth_time/nonce/acr/amr/azp plus only the claims asked
//   for by name in the `claims` parameter's id_token member; `exp` is iat + 600, `acr` is "0" and
//   `amr` is the JSON-encoded *string* "[]";
// - every scope claim (`nickname`, `email`, `groups`, `agreements`) comes from UserInfo only, and
//   UserInfo answers what was true at the authorization (Ipsilon stores a userinfo snapshot with
//   the code and every token refreshed from it): a group change shows at the next sign-in;
// - a refresh answers with an access and a refresh token, no ID token; access tokens are opaque;
// - a refused grant (a refresh token that was rotated, revoked or whose grant is gone; a code used
//   twice) is answered with HTTP 200 and an `error` member (api.py `Token.POST` returns
//   `_respond_error`, which sets no status), only client authentication fails with 400/401; an
//   unknown bearer token at UserInfo is HTTP 400 `invalid_token` with no WWW-Authenticate.
// `claimsInIdToken` and `userinfo: 'live'` give the kinder shape of other issuers (Keycloak and
// most others): scope claims in the ID token too, UserInfo read afresh at each call.
// - discovery offers no end_session_endpoint and no revocation_endpoint (Ipsilon's
//   `wellknown_openid_configuration` lists neither): a client cannot end the person's issuer
//   session; the person signs out at the issuer's own page (Ipsilon's `/logout`, here `logoutUrl`).
// Also: a real username/password login page for the demo accounts, automatic consent, and, with
// `logout: 'rp-initiated'` (other issuers), RP-initiated logout and token revocation in discovery.
//
// Built on `oidc-provider` (v9, Koa). Everything is kept in memory and regenerated at each start
// (signing key, cookie keys, sessions, grants), so restarting the issuer logs everyone out.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import type { DemoAccount } from './demo-accounts.js';

export const FEDORA_GROUPS_SCOPE = 'https://id.fedoraproject.org/scope/groups';
export const FEDORA_AGREEMENTS_SCOPE = 'https://id.fedoraproject.org/scope/agreements';

export interface DevIssuerClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
}

export interface DevIssuerOptions {
  port: number;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Host name used in the issuer URL; default 'localhost'. */
  publicHost?: string;
  clients: DevIssuerClient[];
  accounts: DemoAccount[];
  /** Put scope claims into the ID token as well (not Ipsilon; most other issuers). Default false. */
  claimsInIdToken?: boolean;
  /** 'snapshot' (Ipsilon, default): UserInfo says what was true at the authorization; 'live': now. */
  userinfo?: 'snapshot' | 'live';
  /**
   * 'ipsilon' (default unless claimsInIdToken): no end_session or revocation endpoint in discovery,
   * only the issuer's own sign-out page; 'rp-initiated': both advertised (Keycloak and most others).
   */
  logout?: 'ipsilon' | 'rp-initiated';
}

export interface DevIssuer {
  /** Issuer identifier, e.g. http://localhost:8788 (no trailing slash). */
  issuer: string;
  /** The issuer's own sign-out page (Ipsilon's `/logout`): ends the person's issuer session. */
  logoutUrl: string;
  close(): Promise<void>;
  /** Replaces an account's groups: seen at the next sign-in (snapshot) or next UserInfo call (live). */
  setAccountGroups(username: string, groups: string[]): void;
  /**
   * The person's grants end at the issuer (account disabled, consent withdrawn): every refresh
   * token issued to them stops working. Returns how many grants ended.
   */
  endGrants(username: string): Promise<number>;
  /**
   * Fault injection for tests: UserInfo that drops the connection ('userinfo-down') or answers
   * for another subject ('userinfo-other-sub') or without the groups claim, as a client not granted
   * the groups scope gets it ('userinfo-without-groups'); an issuer that accepts connections and never
   * answers ('frozen'); null heals it.
   */
  setFault(fault: IssuerFault | null): void;
}

export type IssuerFault = 'userinfo-down' | 'userinfo-other-sub' | 'userinfo-without-groups' | 'frozen';

// ---------------------------------------------------------------------------------------------
// Minimal typings for the parts of oidc-provider used here (the package ships no declarations).

type NodeHandler = (req: http.IncomingMessage, res: http.ServerResponse) => unknown;

interface OidcGrant {
  accountId?: string;
  clientId?: string;
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(indicator: string, scope: string): void;
  save(): Promise<string>;
  destroy(): Promise<void>;
}

interface OidcGrantClass {
  new (init: { accountId: string; clientId: string }): OidcGrant;
  find(id: string): Promise<OidcGrant | undefined>;
}

interface InteractionDetails {
  uid: string;
  prompt: { name: string; reasons?: string[]; details: Record<string, unknown> };
  params: Record<string, unknown>;
  session?: { accountId?: string };
  grantId?: string;
}

interface OidcProvider {
  callback(): NodeHandler;
  interactionDetails(req: http.IncomingMessage, res: http.ServerResponse): Promise<InteractionDetails>;
  interactionFinished(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    result: Record<string, unknown>,
    options?: { mergeWithLastSubmission?: boolean },
  ): Promise<void>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  use(middleware: (ctx: OidcCtx, next: () => Promise<void>) => Promise<void>): unknown;
  Grant: OidcGrantClass;
}

type OidcProviderClass = new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;

interface OidcClient {
  clientId: string;
  clientName?: string;
  grantTypeAllowed(type: string): boolean;
}

interface OidcCtx {
  host: string;
  type: string;
  status: number;
  body: unknown;
  set(field: string, value: string): void;
  remove(field: string): void;
  oidc: {
    provider: OidcProvider;
    client?: OidcClient;
    account?: { accountId: string };
    session: { accountId?: string; grantIdFor(clientId: string): string | undefined };
    result?: { consent?: { grantId?: string } };
    requestParamOIDCScopes: Set<string>;
    requestParamClaims: Set<string>;
    body?: Record<string, unknown>;
  };
  path: string;
}

// ---------------------------------------------------------------------------------------------
// Loading oidc-provider. On Node < 22 it prints "Unsupported runtime" at import time; it works on
// Node 20 (this repo's runtime), so that single line is filtered out while the module loads.

let providerClass: Promise<OidcProviderClass> | undefined;

function loadProviderClass(): Promise<OidcProviderClass> {
  providerClass ??= (async () => {
    const specifier = 'oidc-provider';
    const originalWarn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
      originalWarn.apply(console, args);
    };
    try {
      const mod = (await import(specifier)) as { default: OidcProviderClass };
      return mod.default;
    } finally {
      console.warn = originalWarn;
    }
  })();
  return providerClass;
}

// ---------------------------------------------------------------------------------------------
// In-memory storage adapter (our own, so oidc-provider does not warn about its dev adapter).

interface StoredPayload {
  uid?: string;
  grantId?: string;
  consumed?: number;
  [key: string]: unknown;
}

function createMemoryAdapter() {
  const entries = new Map<string, { payload: StoredPayload; expiresAt: number }>();
  const sessionIdByUid = new Map<string, string>();
  const keysByGrant = new Map<string, Set<string>>();
  let writes = 0;

  const live = (key: string): StoredPayload | undefined => {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry.payload;
  };

  const sweep = () => {
    const now = Date.now();
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key);
  };

  return class DevMemoryAdapter {
    readonly #model: string;

    constructor(model: string) {
      this.#model = model;
    }

    #key(id: string): string {
      return `${this.#model}:${id}`;
    }

    async upsert(id: string, payload: StoredPayload, expiresIn?: number): Promise<void> {
      if (++writes % 500 === 0) sweep();
      const key = this.#key(id);
      const expiresAt = typeof expiresIn === 'number' ? Date.now() + (expiresIn + 15) * 1000 : Infinity;
      entries.set(key, { payload, expiresAt });
      if (this.#model === 'Session' && payload.uid) sessionIdByUid.set(payload.uid, id);
      if (payload.grantId) {
        let keys = keysByGrant.get(payload.grantId);
        if (!keys) keysByGrant.set(payload.grantId, (keys = new Set()));
        keys.add(key);
      }
    }

    async find(id: string): Promise<StoredPayload | undefined> {
      return live(this.#key(id));
    }

    async findByUid(uid: string): Promise<StoredPayload | undefined> {
      const id = sessionIdByUid.get(uid);
      return id === undefined ? undefined : this.find(id);
    }

    async findByUserCode(): Promise<undefined> {
      return undefined;
    }

    async consume(id: string): Promise<void> {
      const payload = live(this.#key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      const key = this.#key(id);
      const payload = entries.get(key)?.payload;
      entries.delete(key);
      if (payload?.uid && sessionIdByUid.get(payload.uid) === id) sessionIdByUid.delete(payload.uid);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      for (const key of keysByGrant.get(grantId) ?? []) entries.delete(key);
      keysByGrant.delete(grantId);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// HTML

function esc(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const PAGE_TITLE = 'FDWG demo identity provider';

const STYLE = `
  *{box-sizing:border-box}
  body{margin:0;background:#f3f5f8;color:#1d2733;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
  main{max-width:30rem;margin:3rem auto;padding:0 1rem}
  .card{background:#fff;border:1px solid #d8dee6;border-radius:8px;padding:1.5rem 1.75rem;box-shadow:0 1px 3px rgba(0,0,0,.06)}
  h1{font-size:1.35rem;margin:0 0 .25rem}
  .sub{color:#5b6878;margin:0 0 1.25rem;font-size:.95rem}
  label{display:block;font-weight:600;margin:.75rem 0 .25rem}
  input[type=text],input[type=password]{width:100%;padding:.55rem .65rem;border:1px solid #b8c2cf;border-radius:5px;font:inherit}
  input:focus{outline:2px solid #3c6eb4;outline-offset:1px}
  .actions{display:flex;gap:.75rem;align-items:center;margin-top:1.25rem}
  button{font:inherit;font-weight:600;padding:.55rem 1.2rem;border-radius:5px;border:1px solid #3c6eb4;background:#3c6eb4;color:#fff;cursor:pointer}
  button.secondary{background:#fff;color:#3c6eb4}
  .error{background:#fdecea;border:1px solid #f1a9a0;color:#8a1c10;border-radius:5px;padding:.6rem .8rem;margin:0 0 1rem}
  .demo{margin-top:1.5rem;background:#fffbea;border:1px solid #ecd98a;border-radius:8px;padding:1rem 1.25rem;font-size:.9rem}
  .demo h2{font-size:1rem;margin:0 0 .4rem}
  .demo p{margin:0 0 .6rem;color:#5b5030}
  table{border-collapse:collapse;width:100%}
  th,td{text-align:left;padding:.3rem .4rem;border-top:1px solid #efe3b0;vertical-align:top}
  th{border-top:0;font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:#7a6a2f}
  code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}
`;

function layout(heading: string, inner: string, extraHead = ''): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(PAGE_TITLE)}</title>
<style>${STYLE}</style>
${extraHead}</head>
<body>
<main>
<div class="card">
<h1>${esc(heading)}</h1>
${inner}
</div>
</main>
</body>
</html>`;
}

const BASE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";

function loginPage(opts: {
  uid: string;
  clientId: string;
  username: string;
  error?: string;
  accounts: readonly DemoAccount[];
}): string {
  const action = `/interaction/${encodeURIComponent(opts.uid)}/login`;
  const abort = `/interaction/${encodeURIComponent(opts.uid)}/abort`;
  const rows = opts.accounts
    .map(
      (a) =>
        `<tr><td><code>${esc(a.username)}</code></td><td><code>${esc(a.password)}</code></td><td>${esc(a.role)}<br><small>groups: ${esc(a.groups.join(', ') || '(none)')}</small></td></tr>`,
    )
    .join('\n');
  return layout(
    'Sign in',
    `<p class="sub">${esc(PAGE_TITLE)} &middot; signing in to <strong>${esc(opts.clientId)}</strong></p>
${opts.error ? `<p class="error" role="alert">${esc(opts.error)}</p>` : ''}
<form method="post" action="${esc(action)}" autocomplete="off">
<label for="username">Username</label>
<input type="text" id="username" name="username" value="${esc(opts.username)}" required autocapitalize="none" spellcheck="false"${opts.username ? '' : ' autofocus'}>
<label for="password">Password</label>
<input type="password" id="password" name="password" required${opts.username ? ' autofocus' : ''}>
<div class="actions"><button type="submit">Sign in</button></div>
</form>
<form method="post" action="${esc(abort)}" class="actions"><button type="submit" class="secondary">Cancel</button></form>
<section class="demo" aria-labelledby="demo-accounts">
<h2 id="demo-accounts">Demo accounts</h2>
<p>This is a demo identity provider: these accounts and passwords are public and exist only here.</p>
<table>
<thead><tr><th>Username</th><th>Password</th><th>Role</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</section>`,
  );
}

function messagePage(heading: string, message: string): string {
  return layout(heading, `<p>${esc(message)}</p>`);
}

function sendHtml(res: http.ServerResponse, status: number, html: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Security-Policy', BASE_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.end(html);
}

// ---------------------------------------------------------------------------------------------
// Helpers

const MAX_FORM_BYTES = 16 * 1024;

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  const type = String(req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new HttpError(415, 'Expected a form submission.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new HttpError(413, 'Form submission too large.');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function passwordMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** Stable, opaque `sub` for a username (like a real IdP's, it is not the username). */
function subjectFor(username: string): string {
  return createHash('sha256').update(`fdwg-demo-idp:${username}`).digest('base64url').slice(0, 22);
}

// ---------------------------------------------------------------------------------------------

export async function startDevIssuer(opts: DevIssuerOptions): Promise<DevIssuer> {
  const host = opts.host ?? '127.0.0.1';
  const publicHost = opts.publicHost ?? 'localhost';
  const issuer = `http://${publicHost}:${opts.port}`;

  // Private copies: setAccountGroups must not leak into the shared demoAccounts array.
  const accountsById = new Map<string, DemoAccount>();
  const idByUsername = new Map<string, string>();
  for (const account of opts.accounts) {
    const copy: DemoAccount = {
      ...account,
      groups: [...account.groups],
      ...(account.agreements ? { agreements: [...account.agreements] } : {}),
    };
    const id = subjectFor(account.username);
    accountsById.set(id, copy);
    idByUsername.set(account.username, id);
  }
  const accountList = () => [...accountsById.values()];

  const ipsilonLike = !opts.claimsInIdToken;
  const rpLogout = (opts.logout ?? (ipsilonLike ? 'ipsilon' : 'rp-initiated')) === 'rp-initiated';
  // Claims as they were at each grant's last authorization (Ipsilon's userinfo snapshot).
  const snapshots = new Map<string, Record<string, unknown>>();
  const grantsByAccount = new Map<string, Set<string>>();
  const liveClaims = (id: string): Record<string, unknown> => {
    const account = accountsById.get(id);
    if (!account) return { sub: id };
    return {
      sub: id,
      nickname: account.username,
      preferred_username: account.username,
      name: account.name,
      email: account.email,
      email_verified: true,
      groups: [...account.groups],
      agreements: [...(account.agreements ?? [])],
    };
  };

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingJwk = { ...(await exportJWK(privateKey)), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };

  const Provider = await loadProviderClass();

  const configuration: Record<string, unknown> = {
    adapter: createMemoryAdapter(),
    clients: opts.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      post_logout_redirect_uris: c.post_logout_redirect_uris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: { keys: [signingJwk] },
    cookies: {
      keys: [randomBytes(32).toString('base64url'), randomBytes(32).toString('base64url')],
    },
    scopes: ['openid', 'offline_access'],
    // Every key with a claim list also becomes a supported scope (listed in discovery).
    claims: {
      acr: null,
      sid: null,
      // Ipsilon puts acr, amr and auth_time into every ID token, asked for or not.
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      profile: ['name', 'nickname', 'preferred_username'],
      email: ['email', 'email_verified'],
      [FEDORA_GROUPS_SCOPE]: ['groups'],
      groups: ['groups'],
      [FEDORA_AGREEMENTS_SCOPE]: ['agreements'],
    },
    // true (Ipsilon): scope claims only from UserInfo whenever an access token is issued.
    conformIdTokenClaims: ipsilonLike,
    responseTypes: ['code'],
    // Ipsilon's discovery: acr_values_supported ["0"], and every ID token says acr "0".
    acrValues: ['0'],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      // Ipsilon honours the `claims` parameter: a claim named in its id_token member goes there.
      claimsParameter: { enabled: true },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx: OidcCtx, client: OidcClient, token: { clientId?: string }) =>
          token.clientId === client.clientId,
      },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    },
    ttl: {
      AccessToken: 60 * 60,
      AuthorizationCode: 60,
      IdToken: ipsilonLike ? 600 : 60 * 60,
      RefreshToken: 24 * 60 * 60,
      Interaction: 60 * 60,
      Session: 24 * 60 * 60,
      Grant: 24 * 60 * 60,
      ClientCredentials: 10 * 60,
      DeviceCode: 10 * 60,
      BackchannelAuthenticationRequest: 10 * 60,
      PreAuthorizedCode: 10 * 60,
    },
    issueRefreshToken: async (_ctx: OidcCtx, client: OidcClient) => client.grantTypeAllowed('refresh_token'),
    clientBasedCORS: () => false,
    renderError,
    findAccount: async (_ctx: OidcCtx, id: string, token?: { grantId?: string }) => {
      if (!accountsById.has(id)) return undefined;
      return {
        accountId: id,
        // Live: setAccountGroups shows at the next refresh. Snapshot: at the next authorization.
        async claims() {
          const snapshot = opts.userinfo !== 'live' && token?.grantId ? snapshots.get(token.grantId) : undefined;
          return snapshot ? structuredClone(snapshot) : liveClaims(id);
        },
      };
    },
    // Automatic consent: every registered client gets the OIDC scopes/claims it asks for.
    loadExistingGrant: async (ctx: OidcCtx) => {
      const { oidc } = ctx;
      const client = oidc.client;
      const accountId = oidc.account?.accountId ?? oidc.session.accountId;
      if (!client || !accountId) return undefined;
      const grantId = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(client.clientId);
      let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (grant && (grant.accountId !== accountId || grant.clientId !== client.clientId)) grant = undefined;
      grant ??= new oidc.provider.Grant({ accountId, clientId: client.clientId });
      const scopes = [...oidc.requestParamOIDCScopes];
      if (scopes.length) grant.addOIDCScope(scopes.join(' '));
      const claims = [...oidc.requestParamClaims];
      if (claims.length) grant.addOIDCClaims(claims);
      // Each authorization takes a new snapshot of what UserInfo will say for its tokens.
      const savedId = await grant.save();
      snapshots.set(savedId, liveClaims(accountId));
      grantsByAccount.set(accountId, (grantsByAccount.get(accountId) ?? new Set()).add(savedId));
      return grant;
    },
  };

  const provider = new Provider(issuer, configuration);
  if (!rpLogout) {
    // Ipsilon's discovery lists neither endpoint; the issuer's own page (/logout) still signs out.
    provider.use(async (ctx, next) => {
      await next();
      const body = ctx.body as Record<string, unknown> | undefined;
      if (ctx.path === '/.well-known/openid-configuration' && body && typeof body === 'object') {
        delete body.end_session_endpoint;
        delete body.revocation_endpoint;
      }
    });
  }
  if (ipsilonLike) {
    // Ipsilon's refresh answer is access_token, token_type, refresh_token, expires_in: no ID token.
    provider.use(async (ctx, next) => {
      await next();
      const body = ctx.body as Record<string, unknown> | undefined;
      if (ctx.path === '/token' && ctx.oidc?.body?.grant_type === 'refresh_token' && body && typeof body === 'object') {
        delete body.id_token;
      }
      const error = body && typeof body === 'object' ? body.error : undefined;
      // Ipsilon refuses a grant with HTTP 200; only a failed client authentication is an HTTP error.
      if (ctx.path === '/token' && ctx.status === 400 && typeof error === 'string' && error !== 'invalid_client') {
        ctx.status = 200;
      }
      // Ipsilon's UserInfo refuses an unknown token with 400 and no challenge header.
      if (ctx.path === '/me' && ctx.status === 401 && error === 'invalid_token') {
        ctx.remove('WWW-Authenticate');
        ctx.status = 400;
        ctx.body = { error: 'invalid_token' };
      }
    });
  }
  provider.on('server_error', (_ctx: unknown, err: unknown) => {
    console.error('[dev-oidc-issuer] server error:', err instanceof Error ? err.message : err);
  });
  const providerHandler = provider.callback();

  async function handleInteraction(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    uid: string,
    action: string | undefined,
  ): Promise<void> {
    const method = req.method ?? 'GET';
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new HttpError(400, 'This sign-in link does not match your sign-in request.');
    const clientId = String(details.params.client_id ?? '');

    if (action === undefined) {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'Method not allowed.');
      if (details.prompt.name === 'login') {
        const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : '';
        sendHtml(res, 200, loginPage({ uid, clientId, username: hint, accounts: accountList() }));
        return;
      }
      if (details.prompt.name === 'consent') {
        // Normally unreachable (loadExistingGrant grants everything); grant whatever is missing.
        await finishConsent(req, res, details);
        return;
      }
      throw new HttpError(501, `Unsupported interaction: ${details.prompt.name}`);
    }

    if (method !== 'POST') throw new HttpError(405, 'Method not allowed.');
    if (action === 'abort') {
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User aborted the sign-in' },
        { mergeWithLastSubmission: false },
      );
      return;
    }

    // action === 'login'
    if (details.prompt.name !== 'login') throw new HttpError(400, 'This sign-in request does not expect a login.');
    const form = await readForm(req);
    const username = (form.get('username') ?? '').trim();
    const password = form.get('password') ?? '';
    const id = idByUsername.get(username);
    const account = id === undefined ? undefined : accountsById.get(id);
    // Compare even for unknown users so timing does not reveal which usernames exist.
    const ok = passwordMatches(password, account?.password ?? `\u0000no-such-user:${randomBytes(8).toString('hex')}`);
    if (!account || id === undefined || !ok) {
      sendHtml(
        res,
        200,
        loginPage({
          uid,
          clientId,
          username,
          error: 'Incorrect username or password.',
          accounts: accountList(),
        }),
      );
      return;
    }
    await provider.interactionFinished(
      req,
      res,
      // Ipsilon: acr "0", amr a JSON-encoded string, not an array.
      { login: { accountId: id, remember: true, ...(ipsilonLike ? { acr: '0', amr: '[]' } : {}) } },
      { mergeWithLastSubmission: false },
    );
  }

  async function finishConsent(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    details: InteractionDetails,
  ): Promise<void> {
    const accountId = details.session?.accountId;
    const clientId = String(details.params.client_id ?? '');
    if (!accountId) throw new HttpError(400, 'No signed-in account for this request.');
    const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    const grant = existing ?? new provider.Grant({ accountId, clientId });
    const d = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (d.missingOIDCScope?.length) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims?.length) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  let fault: IssuerFault | null = null;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (fault === 'frozen') return; // never answers; close() ends the connection
    if (path === '/me' && fault === 'userinfo-down') {
      res.destroy();
      return;
    }
    if (path === '/me' && fault === 'userinfo-other-sub') {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ sub: subjectFor('mallory'), nickname: 'mallory', groups: ['fdwg', 'fdwg-admins'] }));
      return;
    }
    if (path === '/me' && fault === 'userinfo-without-groups') {
      // The real answer, less the claim: oidc-provider writes its JSON body in one end() call.
      const end = res.end.bind(res) as (body?: unknown) => http.ServerResponse;
      res.end = ((body?: unknown) => {
        if (typeof body !== 'string' && !Buffer.isBuffer(body)) return end(body);
        const claims = JSON.parse(body.toString()) as Record<string, unknown>;
        delete claims.groups;
        const text = JSON.stringify(claims);
        if (!res.headersSent) res.setHeader('Content-Length', Buffer.byteLength(text));
        return end(text);
      }) as typeof res.end;
      void providerHandler(req, res);
      return;
    }
    if (path === '/logout') {
      // The issuer's own sign-out page: oidc-provider's end-session page, without a client.
      res.writeHead(302, { location: '/session/end' }).end();
      return;
    }
    const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?$/.exec(path);
    if (!match) {
      void providerHandler(req, res);
      return;
    }
    handleInteraction(req, res, match[1] ?? '', match[2]).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) {
        sendHtml(res, err.status, messagePage('Sign-in problem', err.message));
      } else if (err instanceof Error && err.name === 'SessionNotFound') {
        sendHtml(
          res,
          400,
          messagePage(
            'Sign-in expired',
            'This sign-in request has expired or was already completed. Go back to the application and start again.',
          ),
        );
      } else {
        console.error('[dev-oidc-issuer] interaction error:', err instanceof Error ? err.message : err);
        sendHtml(res, 500, messagePage('Something went wrong', 'The demo identity provider hit an internal error.'));
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  let closing: Promise<void> | undefined;
  return {
    issuer,
    logoutUrl: `${issuer}/logout`,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
    setFault(next: IssuerFault | null) {
      fault = next;
    },
    async endGrants(username: string) {
      const id = idByUsername.get(username);
      const ids = id === undefined ? [] : [...(grantsByAccount.get(id) ?? [])];
      let ended = 0;
      for (const grantId of ids) {
        const grant = await provider.Grant.find(grantId);
        if (grant) {
          await grant.destroy();
          ended++;
        }
      }
      if (id !== undefined) grantsByAccount.delete(id);
      return ended;
    },
    setAccountGroups(username: string, groups: string[]) {
      const id = idByUsername.get(username);
      const account = id === undefined ? undefined : accountsById.get(id);
      if (!account) throw new Error(`unknown demo account: ${username}`);
      account.groups = [...groups];
    },
  };
}

// ---------------------------------------------------------------------------------------------
// oidc-provider page hooks (rendered through Koa's ctx)

async function logoutSource(ctx: OidcCtx, form: string): Promise<void> {
  // oidc-provider's form asks "sign out?"; add logout=yes and submit it straight away.
  const formWithLogout = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
  const script = "document.getElementById('op.logoutForm').submit();";
  const hash = createHash('sha256').update(script, 'utf8').digest('base64');
  ctx.set('Content-Security-Policy', `${BASE_CSP}; script-src 'sha256-${hash}'`);
  ctx.type = 'html';
  ctx.body = layout(
    'Signing out…',
    `<p>Signing you out of the ${esc(PAGE_TITLE)}.</p>
${formWithLogout}
<div class="actions"><button type="submit" form="op.logoutForm">Sign out</button></div>
<script>${script}</script>`,
  );
}

async function postLogoutSuccessSource(ctx: OidcCtx): Promise<void> {
  const client = ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId;
  ctx.set('Content-Security-Policy', BASE_CSP);
  ctx.type = 'html';
  ctx.body = layout(
    'Signed out',
    `<p>You have been signed out of the ${esc(PAGE_TITLE)}${client ? ` and of <strong>${esc(client)}</strong>` : ''}.</p>`,
  );
}

async function renderError(ctx: OidcCtx, out: Record<string, unknown>): Promise<void> {
  ctx.set('Content-Security-Policy', BASE_CSP);
  ctx.type = 'html';
  const rows = Object.entries(out)
    .map(([key, value]) => `<p><strong>${esc(key)}</strong>: ${esc(value)}</p>`)
    .join('\n');
  ctx.body = layout('Something went wrong', rows);
}
