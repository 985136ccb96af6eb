// The admin page, under /admin: admin groups only (403 for everyone else, 401 without a session;
// `admin.read` and `admin.sessions.end` in src/access/rules.ts, also for unknown paths here).
// Shows the reconciler's current plan and drift, computed as the gate's own login, and the policy
// version in force. Changes nothing: applying is the scheduled run's and the DBA CLI's job.
import { Hono } from 'hono';
import type pg from 'pg';
import { guard } from '../access/guard.js';
import { newestEventOf } from '../audit/dal.js';
import { controlDb } from '../db/client.js';
import { z } from 'zod';
import { formBody } from '../api/validate.js';
import { formIdentity, pageContext } from './context.js';
import type { AppConfig } from '../config.js';
import type { AppEnv } from '../types.js';
import { AdminPage, type LastApplied } from './admin-pages.js';

export function adminWebRoutes(config: AppConfig, deps: { controlPool: pg.Pool }) {
  const web = new Hono<AppEnv>();
  const db = controlDb(deps.controlPool);
  web.use('*', async (c, next) => {
    c.header('Cache-Control', 'no-store');
    await next();
  });

  web.get('/', guard('admin.read'), async (c) => {
    const services = c.get('services');
    const [result, last] = await Promise.all([
      services.reconciler.plan(),
      newestEventOf<LastApplied['details']>(db, 'policy.applied'),
    ]);
    return c.html(
      <AdminPage
        {...await pageContext(c, config, 'Admin', { current: '/admin', wide: true })}
        result={result}
        lastApplied={last}
        notice={c.req.query('ended') === undefined ? undefined : `Sessions ended: ${Number(c.req.query('ended')) || 0}.`}
      />,
    );
  });

  // Ends every gate session of a person at once (a stolen laptop, a leaver the issuer still lists).
  web.post('/sessions/end', guard('admin.sessions.end'), async (c) => {
    const form = await formBody(c, z.object({ _csrf: z.string(), username: z.string().trim().min(1, 'a username').max(255) }));
    const admin = await formIdentity(c, config, form._csrf);
    const ended = await c.get('services').sessions.endAllFor(form.username, 'admin', admin.username);
    return c.redirect(`/admin?ended=${ended}#sessions`, 303);
  });
  web.all('*', guard('admin.read'));
  return web;
}
