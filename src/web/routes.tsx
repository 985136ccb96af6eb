// Server-rendered pages. Handlers validate and translate; each route's access action comes first
// (src/access/rules.ts), the other rules live in the services.
import { Hono } from 'hono';
import type { Context } from 'hono';
import { z } from 'zod';
import { ttlSeconds } from '../api/schemas.js';
import { formBody } from '../api/validate.js';
import { guard, statusHere } from '../access/guard.js';
import type { Oidc } from '../auth/oidc.js';
import type { AppConfig } from '../config.js';
import type { Policy } from '../policy/schema.js';
import { connectionSnippets } from '../credentials/connection.js';
import type { AppEnv } from '../types.js';
import { CredentialPage, HomePage, LandingPage } from './pages.js';
import { formIdentity, pageContext } from './context.js';
import { notAdmittedPage } from './refusals.js';

const csrfOnly = z.object({ _csrf: z.string() });

export function webRoutes(config: AppConfig, policy: Policy, oidc: Oidc) {
  const web = new Hono<AppEnv>();

  const page = (c: Context<AppEnv>, title: string) => pageContext(c, config, title);

  web.get('/', guard('home.read', { refused: notAdmittedPage(config, policy) }), async (c) => {
    const identity = c.get('identity');
    if (!identity) {
      const signedOut = c.req.query('done') === 'signed-out' ? { issuerLogoutUrl: config.oidc.logoutUrl } : undefined;
      return c.html(<LandingPage {...await page(c, 'Welcome')} signedOut={signedOut} />);
    }
    const { credentials, requests } = c.get('services');
    const status = await statusHere(c);
    const [lease, piiGrants] = status.analyst
      ? await Promise.all([credentials.current(status.analyst.id), requests.liveGrants(status.analyst.id)])
      : [null, []];
    const notice = { accepted: 'Agreement accepted.', revoked: 'Access revoked; your sessions were ended.' }[c.req.query('done') ?? ''];
    c.header('Cache-Control', 'no-store');
    return c.html(
      <HomePage
        {...await page(c, 'Your access')}
        status={status}
        agreementText={policy.agreementText}
        lease={lease}
        ttlDefault={policy.credentials.ttl_default}
        ttlMax={policy.credentials.ttl_max}
        notice={notice}
        piiGrants={piiGrants}
      />,
    );
  });

  web.post('/agreement', guard('agreement.accept'), async (c) => {
    const form = await formBody(c, csrfOnly.extend({ version: z.string().min(1) }));
    const identity = await formIdentity(c, config, form._csrf);
    await c.get('services').gate.acceptAgreement(identity, form.version);
    return c.redirect('/?done=accepted', 303);
  });

  web.post('/credentials', guard('credentials.issue'), async (c) => {
    const form = await formBody(c, csrfOnly.extend({ ttl: ttlSeconds.optional() }));
    const identity = await formIdentity(c, config, form._csrf);
    const credential = await c.get('services').credentials.issue(identity, form.ttl);
    // The one response that carries a password: never cached, never stored.
    c.header('Cache-Control', 'no-store');
    return c.html(
      <CredentialPage
        {...await page(c, 'Your credentials')}
        credential={credential}
        snippets={connectionSnippets(config.analystDb, credential.roleName, credential.password)}
        target={config.analystDb}
      />,
      201,
    );
  });

  web.post('/credentials/revoke', guard('credentials.revoke'), async (c) => {
    const form = await formBody(c, csrfOnly);
    const identity = await formIdentity(c, config, form._csrf);
    await c.get('services').credentials.revoke(identity);
    return c.redirect('/?done=revoked', 303);
  });

  web.get('/auth/login', guard('signin'), oidc.login, (c) => c.redirect('/'));

  web.get('/auth/callback', guard('signin'), (c) =>
    oidc.callback(c, async (identity, sessionId) => {
      await c.get('services').signIns.signedIn(identity, sessionId);
    }),
  );

  web.post('/auth/logout', guard('signout'), async (c) => {
    const form = await formBody(c, csrfOnly);
    const identity = await formIdentity(c, config, form._csrf);
    return c.redirect(await oidc.logout(c, identity), 303);
  });

  return web;
}
