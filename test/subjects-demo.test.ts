// The demo's seeded access-log history (issue 15): what `npm start` shows on first start, a data-
// subject report with reads naming the person and an alert, built by the same report service the
// pages use, every seeded event marked as demo; a second start seeds nothing more.
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { controlDb, createPool } from '../src/db/client.js';
import { prepareDatabases } from '../src/node/databases.js';
import { loadPolicy } from '../src/policy/load.js';
import { SubjectReports } from '../src/subjects/service.js';
import { expectChainIntact } from './support/audit.js';
import { adminUrl, uniqueSuffix, urlFor } from './support/pg.js';
import { withClient } from './support/pg.js';
import type pg from 'pg';

const policy = loadPolicy(path.resolve('policies'));
const suffix = uniqueSuffix();
const prefix = `sd${suffix}_`;
const names = { controlDatabase: `control_sd${suffix}`, warehouseDatabase: `warehouse_sd${suffix}` };
let logs: string[] = [];
let urls: { controlUrl: string; warehouseUrl: string };
let pools: pg.Pool[] = [];

const prepare = () =>
  prepareDatabases({
    superuserUrl: adminUrl(),
    ...names,
    prefix,
    gatePassword: `gate-${suffix}`,
    policy,
    demo: { messages: 400, seed: 7, pseudonymKey: `key-${suffix}`, history: true },
    log: (m) => logs.push(m),
  });

beforeAll(async () => {
  urls = await prepare();
}, 60_000);
afterAll(async () => {
  await Promise.allSettled(pools.map((p) => p.end()));
});

test('first start: a report for one demo user with reads naming them and one alert, marked as demo', async () => {
  const subject = /data-subject report for "([^"]+)"/.exec(logs.join('\n'))?.[1];
  expect(subject).toBeTruthy();
  const control = createPool(urls.controlUrl, 2);
  const warehouse = createPool(urls.warehouseUrl, 2);
  pools = [control, warehouse];
  const reports = new SubjectReports(controlDb(control), warehouse, policy.pii_datasets, prefix);
  const carol = { sub: 'carol', username: 'carol', email: null, name: null, groups: ['fdwg-auditors'] };
  const r = await reports.report(carol as never, { username: subject!, from: new Date(Date.now() - 365 * 86_400_000), to: new Date(), reason: 'demo check of the report' }, 'json');
  expect(r.presence).toMatchObject({ checked: true });
  expect(r.grants).toEqual([expect.objectContaining({ analyst: 'alice', approvers: ['bob'], endReason: 'expired' })]);
  expect(r.readsTotal).toBe(3);
  expect(r.namingTotal).toBe(2);
  expect(r.alerts.map((a) => a.rule)).toEqual(['whole_table']);

  const events = await withClient(urlFor(names.controlDatabase), async (c) => (await c.query(`SELECT action, details FROM audit_events ORDER BY id`)).rows);
  const seeded = events.filter((e) => e.action !== 'subject.report' && e.action !== 'policy.applied');
  expect(seeded.map((e) => e.action)).toEqual(['request.created', 'request.approved', 'pii.granted', 'pii.read', 'pii.read', 'pii.read', 'alert.raised', 'pii.revoked']);
  expect(seeded.every((e) => e.details.demo === true && typeof e.details.demoAt === 'string')).toBe(true);
  await expectChainIntact(urlFor(names.controlDatabase));
});

test('a second start seeds nothing more', async () => {
  logs = [];
  await prepare();
  expect(logs.join('\n')).not.toContain('data-subject report for');
  const n = await withClient(urlFor(names.controlDatabase), async (c) => (await c.query(`SELECT count(*)::int AS n FROM pii_requests`)).rows[0].n);
  expect(n).toBe(1);
});
