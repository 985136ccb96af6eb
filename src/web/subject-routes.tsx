// /audit/subjects: the data-subject report pages (auditors only, action `audit.subjects`). The form
// is a GET; a filled one is sent on to /audit/subjects/<username>, which records the report
// (`subject.report`) and shows it.
import { Hono } from 'hono';
import type pg from 'pg';
import { guard } from '../access/guard.js';
import type { AppConfig } from '../config.js';
import { controlDb } from '../db/client.js';
import type { Policy } from '../policy/schema.js';
import { SubjectReports, parseSubjectQuery } from '../subjects/service.js';
import type { AppEnv } from '../types.js';
import { pageContext } from './context.js';
import { SubjectFormPage, SubjectReportPage, type SubjectFormValues } from './subject-pages.js';

export interface SubjectWebDeps {
  controlPool: pg.Pool;
  warehousePool: pg.Pool;
  policy: Policy;
}

const queryOf = (v: SubjectFormValues) => {
  const q = new URLSearchParams();
  for (const k of ['from', 'to', 'reason'] as const) if (v[k]) q.set(k, v[k]!);
  return q.toString();
};

export function subjectWebRoutes(config: AppConfig, deps: SubjectWebDeps) {
  const web = new Hono<AppEnv>();
  const reports = new SubjectReports(controlDb(deps.controlPool), deps.warehousePool, deps.policy.pii_datasets, config.rolePrefix);
  web.use('*', async (c, next) => {
    c.header('Cache-Control', 'no-store');
    await next();
  });

  web.get('/', guard('audit.subjects'), async (c) => {
    const values = c.req.query() as SubjectFormValues;
    if (values.username) return c.redirect(`/audit/subjects/${encodeURIComponent(values.username)}?${queryOf(values)}`, 303);
    return c.html(<SubjectFormPage {...await pageContext(c, config, 'Data-subject report', { current: '/audit', wide: true })} values={values} />);
  });

  web.get('/:username', guard('audit.subjects'), async (c) => {
    const username = c.req.param('username');
    const q = parseSubjectQuery(username, c.req.query());
    const report = await reports.report(c.get('identity')!, q, 'page');
    const values = { username, ...(c.req.query() as SubjectFormValues) };
    const jsonHref = `/api/audit/subjects/${encodeURIComponent(username)}?${queryOf(values)}`;
    return c.html(
      <SubjectReportPage {...await pageContext(c, config, `Data-subject report: ${username}`, { current: '/audit', wide: true })} report={report} values={values} jsonHref={jsonHref} />,
    );
  });
  return web;
}
