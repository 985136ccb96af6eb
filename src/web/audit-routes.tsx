// The auditor pages and the exports, under /audit. Auditors only (never approvers, admins or
// analysts by virtue of those roles): every route is `audit.read`, checked before anything is
// read, and so is anything else under /audit, known or not.
import { Hono } from 'hono';
import type { Context } from 'hono';
import type pg from 'pg';
import { type ExportFormat, exportContentType, exportFilename, openExport } from '../audit/export.js';
import { pgauditStatus } from '../audit/pgaudit.js';
import { eventDetail, parseAuditQuery, piiDailyCounts, searchEvents, timelineEvents, timelineSummary } from '../audit/query.js';
import type { AppConfig } from '../config.js';
import { controlDb } from '../db/client.js';
import { AppError } from '../errors.js';
import { guard } from '../access/guard.js';
import { type AuditRouteDeps, eventIdParam } from '../api/audit-routes.js';
import type { AppEnv } from '../types.js';
import { AuditListPage, EventPageView, TimelinePage } from './audit-pages.js';
import { pageContext } from './context.js';

export interface AuditWebDeps extends AuditRouteDeps {
  /** The warehouse, to ask whether pgaudit logs PII reads there. */
  warehousePool: pg.Pool;
  /** pgaudit's object-audit role (`services.provisioner.roles.piiAudit`). */
  piiAuditRole: string;
  /** The policy's PII schemas: the pages also say which PII tables pgaudit does not cover. */
  piiSchemas: string[];
}

/** A verification at most this old is shown on the pages (each one walks the whole chain). */
const CHAIN_MAX_AGE_MS = 60_000;
const CHART_DAYS = 30;

export function auditWebRoutes(config: AppConfig, deps: AuditWebDeps) {
  const web = new Hono<AppEnv>();
  const db = controlDb(deps.controlPool);
  const pgaudit = () => pgauditStatus(deps.warehousePool, deps.piiAuditRole, { piiSchemas: deps.piiSchemas });

  web.use('*', async (c, next) => {
    c.header('Cache-Control', 'no-store');
    await next();
  });

  const ctx = (c: Context<AppEnv>, title: string) => pageContext(c, config, title, { current: '/audit', wide: true });

  web.get('/', guard('audit.read'), async (c) => {
    const q = parseAuditQuery(c.req.query(), 'page');
    const [page, chain, counts, pg] = await Promise.all([
      searchEvents(db, q.filter, q),
      deps.chain.status(CHAIN_MAX_AGE_MS),
      piiDailyCounts(db, CHART_DAYS),
      pgaudit(),
    ]);
    return c.html(
      <AuditListPage {...await ctx(c, 'Access log')} page={page} chain={chain} counts={counts} pgaudit={pg} raw={q.raw} limit={q.limit} />,
    );
  });

  web.get('/events/:id', guard('audit.read'), async (c) => {
    const id = eventIdParam(c.req.param('id'));
    const [detail, pg] = await Promise.all([eventDetail(db, id), pgaudit()]);
    if (!detail) throw new AppError('not_found', `No event ${id} in the access log.`);
    return c.html(<EventPageView {...await ctx(c, `Event #${id}`)} detail={detail} pgaudit={pg} />);
  });

  web.get('/analysts/:username', guard('audit.read'), async (c) => {
    const username = c.req.param('username');
    if (username.length > 200) throw new AppError('bad_request', 'That username is too long.');
    const q = parseAuditQuery(c.req.query(), 'page');
    const [summary, page, pg] = await Promise.all([
      timelineSummary(db, username),
      timelineEvents(db, username, q.filter, q),
      pgaudit(),
    ]);
    return c.html(
      <TimelinePage {...await ctx(c, `Timeline of ${username}`)} username={username} summary={summary} page={page} pgaudit={pg} raw={q.raw} limit={q.limit} />,
    );
  });

  const exportRoute = (format: ExportFormat) => async (c: Context<AppEnv>) => {
    const q = parseAuditQuery(c.req.query(), 'none');
    const body = await openExport(db, q.filter, format);
    return c.body(body, 200, {
      'Content-Type': exportContentType[format],
      'Content-Disposition': `attachment; filename="${exportFilename(format)}"`,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
  };
  web.get('/export.csv', guard('audit.read'), exportRoute('csv'));
  web.get('/export.jsonl', guard('audit.read'), exportRoute('jsonl'));
  web.all('*', guard('audit.read'));

  return web;
}
