// Server-rendered pages. Handlers validate and translate; rules live in the services.
import { Hono } from 'hono';
import type { Context } from 'hono';
import { z } from 'zod';
import { ttlSeconds } from '../api/schemas.js';
import { formBody } from '../api/validate.js';
import { endAccessOfLeaver, type Oidc } from '../auth/oidc.js';
import type { AppConfig } from '../config.js';
import type { Policy } from '../policy/schema.js';
import { connectionSnippets } from '../services/connection.js';
import type { AppEnv } from '../types.js';
import { CredentialPage, HomePage, LandingPage, NotAdmittedPage } from './pages.js';
import { formIdentity, pageContext } from './context.js';

const csrfOnly = z.object({ _csrf: z.string() });

export function webRoutes(config: AppConfig, policy: Policy, oidc: Oidc) {
  const web = new Hono<AppEnv>();

  const page = (c: Context<AppEnv>, title: string) => pageContext(c, config, title);

  web.get('/', async (c) => {
    const identity = c.get('identity');
    if (!identity) return c.html(<LandingPage {...await page(c, 'Welcome')} />);
    const { gate, credentials, requests } = c.get('services');
    const status = await gate.status(identity);
    const { standing } = status;
    if (!standing.member && !standing.auditor && !standing.admin) {
      return c.html(
        <NotAdmittedPage
          {...await page(c, 'Not admitted')}
          groups={identity.groups}
          memberGroups={policy.admission.member_groups}
        />,
        403,
      );
    }
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

  web.post('/agreement', async (c) => {
    const form = await formBody(c, csrfOnly.extend({ version: z.string().min(1) }));
    const identity = await formIdentity(c, config, form._csrf);
    await c.get('services').gate.acceptAgreement(identity, form.version);
    return c.redirect('/?done=accepted', 303);
  });

  web.post('/credentials', async (c) => {
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

  web.post('/credentials/revoke', async (c) => {
    const form = await formBody(c, csrfOnly);
    const identity = await formIdentity(c, config, form._csrf);
    await c.get('services').credentials.revoke(identity);
    return c.redirect('/?done=revoked', 303);
  });

  web.get('/auth/login', oidc.login, (c) => c.redirect('/'));

  web.get('/auth/callback', (c) =>
    oidc.callback(c, async (identity, sessionId) => {
      const { gate } = c.get('services');
      const { standing, wasAnalyst } = await gate.recordLogin(identity);
      if (!standing.member && wasAnalyst) await endAccessOfLeaver(c, identity, sessionId);
    }),
  );

  web.post('/auth/logout', async (c) => {
    const form = await formBody(c, csrfOnly);
    const identity = await formIdentity(c, config, form._csrf);
    return c.redirect(await oidc.logout(c, identity), 303);
  });

  return web;
}
