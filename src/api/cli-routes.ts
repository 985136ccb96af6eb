// The command line's side of signing in (public: these hand out the identity), and ending a
// token. The person's side (approving in a browser) is in src/web/cli-routes.tsx.
import { z } from '@hono/zod-openapi';
import type { AppConfig } from '../config.js';
import { AppError } from '../errors.js';
import { apiRoute, apiRouter, errorResponses } from './openapi.js';
import { safeText } from './schemas.js';

const clientName = safeText(100).pipe(z.string().trim().min(1, 'a name'));

const DeviceStart = z
  .strictObject({
    clientName: clientName.optional().openapi({ description: 'Shown on the confirmation page and in the access log, e.g. "fdwg on jupyter-7".' }),
  })
  .openapi('CliDeviceStart');
const DeviceStarted = z
  .object({
    deviceCode: z.string().openapi({ description: 'Secret; poll `POST /api/cli/token` with it.' }),
    userCode: z.string().openapi({ example: 'WDJB-MJHT', description: 'What the person types at `verificationUri`.' }),
    verificationUri: z.string(),
    verificationUriComplete: z.string().openapi({ description: 'The same page with the code filled in.' }),
    expiresIn: z.number().int().openapi({ description: 'Seconds the codes stay valid.' }),
    interval: z.number().int().openapi({ description: 'Seconds to wait between polls.' }),
  })
  .openapi('CliDeviceStarted');
const TokenRequest = z
  .discriminatedUnion('grantType', [
    z.strictObject({
      grantType: z.literal('authorization_code'),
      code: z.string().min(1).max(200).openapi({ description: 'From the loopback redirect.' }),
      codeVerifier: z
        .string()
        .regex(/^[A-Za-z0-9._~-]{43,128}$/, 'a PKCE code verifier (RFC 7636: 43 to 128 unreserved characters)'),
      redirectUri: z.string().min(1).max(500).openapi({ description: 'Exactly the redirect_uri the sign-in began with.' }),
    }),
    z.strictObject({ grantType: z.literal('device_code'), deviceCode: z.string().min(1).max(200) }),
  ])
  .openapi('CliTokenRequest');
const IssuedToken = z
  .object({
    token: z.string().openapi({ description: 'A gate token (ES256 JWT); send it as `Authorization: Bearer <token>`.' }),
    tokenType: z.literal('Bearer'),
    expiresAt: z.string().openapi({ format: 'date-time' }),
    username: z.string(),
  })
  .openapi('CliToken');

export function cliApiRoutes(config: AppConfig) {
  const api = apiRouter();

  api.openapi(
    apiRoute({
      method: 'post',
      path: '/cli/device',
      action: 'public',
      tags: ['Command line'],
      summary: 'Start a device-style sign-in',
      description:
        'For a command line without a browser (ssh, JupyterHub): returns a device code to poll with and a short user code the person confirms at `verificationUri` in any signed-in browser. Codes expire in 10 minutes and are single use; starting too many at once is a 429.',
      request: { body: { content: { 'application/json': { schema: DeviceStart } } } },
      responses: { 200: { description: 'Started.', content: { 'application/json': { schema: DeviceStarted } } }, ...errorResponses(429) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const started = await c.get('services').cliLogins.startDevice(body.clientName ?? 'fdwg');
      const verificationUri = `${config.publicUrl}/cli/device`;
      return c.json({ ...started, verificationUri, verificationUriComplete: `${verificationUri}?code=${encodeURIComponent(started.userCode)}` }, 200);
    },
  );

  api.openapi(
    apiRoute({
      method: 'post',
      path: '/cli/token',
      action: 'public',
      tags: ['Command line'],
      summary: 'Exchange a sign-in code for a gate token',
      description: [
        'Two grants. `authorization_code`: the one-time code from the loopback redirect (RFC 8252) with the PKCE verifier whose S256 challenge began the sign-in.',
        '`device_code`: poll with the device code at the given interval; `authorization_pending` (400) until the person confirms, `slow_down` (429) when polling too fast (wait 5 s longer), `access_denied` (403) when they refused, `expired` (410) when the code ran out or was used.',
        'The token copies the identity of the browser session that approved it and ends with it (signing out there), with `fdwg logout`, when an admin ends the person\'s sessions, or when they leave the FDWG.',
      ].join('\n\n'),
      request: { body: { content: { 'application/json': { schema: TokenRequest } }, required: true } },
      responses: { 200: { description: 'A gate token.', content: { 'application/json': { schema: IssuedToken } } }, ...errorResponses(410, 429) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const logins = c.get('services').cliLogins;
      const issued =
        body.grantType === 'authorization_code'
          ? await logins.exchangeCode(body.code, body.codeVerifier, body.redirectUri)
          : await logins.pollDevice(body.deviceCode);
      return c.json(issued, 200);
    },
  );

  api.openapi(
    apiRoute({
      method: 'post',
      path: '/cli/logout',
      action: 'signout',
      tags: ['Command line'],
      summary: 'End this gate token',
      description: 'Ends the token sent in `Authorization: Bearer`; its next use is a 401. Other tokens and browser sessions stay. Called with a browser session instead of a token: a 400 (browsers sign out at /auth/logout).',
      responses: { 200: { description: 'Ended.', content: { 'application/json': { schema: z.object({ ended: z.literal(true) }) } } }, ...errorResponses('bad_request') },
    }),
    async (c) => {
      const identity = c.get('identity')!;
      const token = c.get('token');
      if (!token) throw new AppError('bad_request', 'Send the token to end as "Authorization: Bearer <token>" (browser sessions sign out at /auth/logout).');
      await c.get('services').sessions.end(token.jti, 'logout', identity.username);
      return c.json({ ended: true as const }, 200);
    },
  );

  return api;
}
