// Pages of the PII tier. Each route's access action comes first (src/access/rules.ts); handlers
// validate and translate; the rules about one request live in PiiRequestService.
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { denialRoute, guard, standingHere, statusHere } from '../access/guard.js';
import { pathId } from '../api/request-routes.js';
import { piiRequestCreate } from '../api/schemas.js';
import { formBody } from '../api/validate.js';
import type { AppConfig } from '../config.js';
import type { Policy } from '../policy/schema.js';
import type { AppEnv } from '../types.js';
import { ApprovalsPage, RequestsPage } from './request-pages.js';
import { formIdentity, pageContext } from './context.js';

const csrf = z.object({ _csrf: z.string() });
const optionalComment = z
  .string()
  .trim()
  .max(2000)
  .optional()
  .transform((s) => (s ? s : undefined));
/** Checkboxes arrive as one string or several (`datasets[]`); none checked: no field at all. */
const requestForm = csrf.extend({
  'datasets[]': z.union([z.string(), z.array(z.string())]).optional(),
  purpose: piiRequestCreate.shape.purpose,
  durationSeconds: piiRequestCreate.shape.durationSeconds,
});

export function requestWebRoutes(config: AppConfig, policy: Policy) {
  const web = new Hono<AppEnv>();

  const page = (c: Context<AppEnv>, title: string, current: string) => pageContext(c, config, title, { current });

  web.get('/requests', guard('requests.read'), async (c) => {
    const identity = c.get('identity')!;
    const status = await statusHere(c);
    const notice = {
      created: 'Request sent. Approvers have been told.',
      withdrawn: 'Request withdrawn.',
      relinquished: 'Access relinquished; your sessions were ended.',
    }[c.req.query('done') ?? ''];
    c.header('Cache-Control', 'no-store');
    return c.html(
      <RequestsPage
        {...await page(c, 'PII requests', '/requests')}
        datasets={policy.pii_datasets}
        requests={await c.get('services').requests.mine(identity)}
        admitted={status.admitted}
        notice={notice}
      />,
    );
  });

  web.post('/requests', guard('requests.create'), async (c) => {
    const form = await formBody(c, requestForm);
    const identity = await formIdentity(c, config, form._csrf);
    const picked = form['datasets[]'];
    await c.get('services').requests.create(identity, {
      datasets: picked === undefined ? [] : Array.isArray(picked) ? picked : [picked],
      purpose: form.purpose,
      durationSeconds: form.durationSeconds,
    });
    return c.redirect('/requests?done=created', 303);
  });

  web.post('/requests/:id/withdraw', guard('requests.withdraw'), async (c) => {
    const id = pathId(c);
    const form = await formBody(c, csrf);
    await c.get('services').requests.withdraw(await formIdentity(c, config, form._csrf), id);
    return c.redirect('/requests?done=withdrawn', 303);
  });

  web.post('/requests/:id/relinquish', guard('requests.relinquish'), async (c) => {
    const id = pathId(c);
    const form = await formBody(c, csrf);
    await c.get('services').requests.relinquish(await formIdentity(c, config, form._csrf), id);
    return c.redirect('/requests?done=relinquished', 303);
  });

  web.get('/approvals', guard('approvals.read'), async (c) => {
    const identity = c.get('identity')!;
    const queue = await c.get('services').requests.approvals(identity);
    const done = c.req.query('done') ?? '';
    const notice = /^(approved|approved-final|denied|revoked)-\d+$/.test(done)
      ? (() => {
          const [, what, id] = /^(.*)-(\d+)$/.exec(done)!;
          return {
            approved: `Your approval of request #${id} is recorded; it needs another approver.`,
            'approved-final': `Request #${id} approved: access granted.`,
            denied: `Request #${id} denied.`,
            revoked: `Grant #${id} revoked; the analyst's sessions were ended.`,
          }[what!];
        })()
      : undefined;
    c.header('Cache-Control', 'no-store');
    return c.html(
      <ApprovalsPage
        {...await page(c, 'Approvals', '/approvals')}
        queue={queue}
        datasets={policy.pii_datasets}
        approver={standingHere(c)!.approver}
        notice={notice}
      />,
    );
  });

  web.post('/approvals/:id', guard('requests.review'), async (c) => {
    const id = pathId(c);
    const form = await formBody(c, csrf.extend({ decision: z.enum(['approve', 'deny']), comment: optionalComment }));
    const identity = await formIdentity(c, config, form._csrf);
    const result = await c.get('services').requests.review(identity, id, form.decision, form.comment, denialRoute(c));
    const what = form.decision === 'deny' ? 'denied' : result.final ? 'approved-final' : 'approved';
    return c.redirect(`/approvals?done=${what}-${id}`, 303);
  });

  web.post('/grants/:id/revoke', guard('grants.revoke'), async (c) => {
    const id = pathId(c);
    const form = await formBody(c, csrf.extend({ comment: optionalComment }));
    const identity = await formIdentity(c, config, form._csrf);
    await c.get('services').requests.revokeGrant(identity, id, form.comment);
    return c.redirect(`/approvals?done=revoked-${id}`, 303);
  });

  return web;
}
