// The person's side of a command-line sign-in: approving a loopback sign-in (RFC 8252) or
// confirming a device code. Both are `cli.login` (src/access/rules.ts): a signed-in browser
// session of someone with standing, and an FDWG member must have accepted the current agreement.
// The signed-out are sent to sign in and brought back; the not admitted get the page that says why.
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { type GuardOptions, guard } from '../access/guard.js';
import { formBody } from '../api/validate.js';
import { safeText } from '../api/schemas.js';
import { loopbackRedirect } from '../auth/cli-login.js';
import type { AppConfig } from '../config.js';
import { AppError } from '../errors.js';
import type { Policy } from '../policy/schema.js';
import type { AppEnv } from '../types.js';
import { CliAuthorizePage, CliDevicePage, CliDonePage } from './cli-pages.js';
import { formIdentity, pageContext } from './context.js';
import { notAdmittedPage } from './refusals.js';

const loopbackParams = z.object({
  redirect_uri: z.string().max(500),
  state: z.string().regex(/^[A-Za-z0-9._~-]{8,200}$/, 'a random state (8 to 200 URL-safe characters)'),
  code_challenge: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'an S256 code challenge (43 base64url characters)'),
  code_challenge_method: z.literal('S256', 'S256 (plain is not accepted)'),
  client_name: safeText(100).optional(),
});

export function cliWebRoutes(config: AppConfig, policy: Policy) {
  const web = new Hono<AppEnv>();
  web.use('*', async (c, next) => {
    c.header('Cache-Control', 'no-store');
    await next();
  });

  const page = (c: Context<AppEnv>, title: string) => pageContext(c, config, title);

  const access: GuardOptions = { signIn: 'redirect', refused: notAdmittedPage(config, policy) };

  function parseLoopback(input: Record<string, unknown>) {
    const parsed = loopbackParams.safeParse(input);
    if (!parsed.success) {
      throw new AppError('bad_request', `This sign-in link is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`);
    }
    const redirect = loopbackRedirect(parsed.data.redirect_uri);
    // Never redirect anywhere but the CLI's listener on this machine.
    if (!redirect) throw new AppError('bad_request', 'This sign-in link is not valid: redirect_uri must be http://127.0.0.1:<port>/... or http://[::1]:<port>/....');
    return { ...parsed.data, redirect };
  }

  web.get('/authorize', guard('cli.login', access), async (c) => {
    const params = parseLoopback(c.req.query());
    return c.html(
      <CliAuthorizePage
        {...await page(c, 'Sign in the command line')}
        clientName={params.client_name ?? 'fdwg'}
        fields={{
          redirect_uri: params.redirect_uri,
          state: params.state,
          code_challenge: params.code_challenge,
          code_challenge_method: params.code_challenge_method,
          ...(params.client_name ? { client_name: params.client_name } : {}),
        }}
      />,
    );
  });

  web.post('/authorize', guard('cli.login', access), async (c) => {
    const form = await formBody(c, z.object({ _csrf: z.string(), decision: z.enum(['allow', 'cancel']) }).passthrough());
    await formIdentity(c, config, form._csrf);
    const params = parseLoopback(form);
    const back = new URL(params.redirect);
    back.searchParams.set('state', params.state);
    if (form.decision === 'cancel') {
      back.searchParams.set('error', 'access_denied');
      return c.redirect(back.toString(), 303);
    }
    const code = await c.get('services').cliLogins.approveLoopback(c.get('session')!.id, params.redirect, params.code_challenge, params.client_name ?? 'fdwg');
    back.searchParams.set('code', code);
    return c.redirect(back.toString(), 303);
  });

  web.get('/device', guard('cli.login', access), async (c) => {
    const code = (c.req.query('code') ?? '').slice(0, 20);
    const pending = code ? await c.get('services').cliLogins.pendingDevice(code) : null;
    return c.html(<CliDevicePage {...await page(c, 'Sign in a command line')} code={code} pending={pending} />);
  });

  web.post('/device', guard('cli.login', access), async (c) => {
    const form = await formBody(c, z.object({ _csrf: z.string(), userCode: z.string().max(20), decision: z.enum(['allow', 'deny']) }));
    const identity = await formIdentity(c, config, form._csrf);
    try {
      const { clientName } = await c.get('services').cliLogins.confirmDevice(c.get('session')!.id, identity.username, form.userCode, form.decision === 'allow');
      const done = form.decision === 'allow'
        ? { heading: 'Command line signed in', message: `${clientName ?? 'fdwg'} is signed in as ${identity.username}. You can close this tab.` }
        : { heading: 'Sign-in refused', message: 'The command line was not signed in. You can close this tab.' };
      return c.html(<CliDonePage {...await page(c, done.heading)} {...done} />);
    } catch (err) {
      if (!(err instanceof AppError) || (err.code !== 'bad_request' && err.code !== 'rate_limited')) throw err;
      return c.html(<CliDevicePage {...await page(c, 'Sign in a command line')} code={form.userCode} pending={null} error={err.message} />, err.status);
    }
  });

  return web;
}
