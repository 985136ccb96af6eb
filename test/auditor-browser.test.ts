// The auditor's pages in a real browser: carol signs in through the bundled issuer in Debian's
// Chromium, filters the log with the form, opens an event and a timeline, reads the chain and
// pgaudit status, and downloads the CSV export. Screenshots go to tmp/screenshots/audit-*.png.
import { readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type AuditAction, appendAudit } from '../src/audit/log.js';
import { controlDb } from '../src/db/client.js';
import { launchBrowser, screenshot } from './support/browser.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { HttpSession, signIn } from './support/http-session.js';
import { parseCsv } from './support/csv.js';

let gate: TestGate;
let browser: Browser;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

beforeAll(async () => {
  [gate, browser] = await Promise.all([startTestGate({ demoMessages: 200 }), launchBrowser()]);
  // Real events: alice signs in, accepts the agreement, gets credentials; mallory is refused.
  const alice = new HttpSession();
  await signIn(alice, gate.url, 'alice', 'alice-demo');
  const post = (path: string, body: unknown) =>
    alice.request(`${gate.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect((await post('/api/agreement', { version: gate.policy.agreement.version })).status).toBe(200);
  expect((await post('/api/credentials', {})).status).toBe(201);
  await signIn(new HttpSession(), gate.url, 'mallory', 'mallory-demo');
  // Some history for the chart and the pages.
  await controlDb(gate.controlPool).transaction(async (tx) => {
    const actions: AuditAction[] = ['login', 'credential.issued', 'pii.read', 'credential.expired', 'logout'];
    for (let i = 0; i < 60; i++) {
      const who = ['dave', 'erin', 'frank'][i % 3]!;
      const action = actions[i % actions.length]!;
      await appendAudit(tx, {
        action,
        actor: i % 7 === 0 ? 'system:sweeper' : who,
        subject: who,
        requestId: action === 'pii.read' ? 3 + (i % 2) : null,
        dataset: action === 'pii.read' ? 'pii.users' : null,
        details: action === 'credential.issued' ? { role: `fdwg_${who}`, ttlSeconds: 28800 } : { n: i },
      });
    }
    await appendAudit(tx, { action: 'login', actor: '=cmd|"/C calc"!A0', subject: '=cmd|"/C calc"!A0', details: { note: 'formula' } });
    await appendAudit(tx, { action: 'pii.granted' as AuditAction, actor: 'bob', subject: 'dave', requestId: 3, dataset: 'pii.users' });
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await gate?.close();
});

async function newPage(): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`${page.url()}: ${m.text().slice(0, 200)}`);
  });
  page.on('pageerror', (e) => problems.push(`${page.url()}: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') problems.push(`${r.url()}: HTTP ${r.status()}`);
  });
  return { context, page, problems };
}

async function signInThroughIssuer(page: Page, username: string) {
  await page.goto(gate.url);
  await page.getByRole('link', { name: 'Sign in with Fedora Accounts' }).click();
  await page.waitForURL(new RegExp(`^${escapeRe(gate.issuer.issuer)}/interaction/`));
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(`${username}-demo`);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${gate.url}/`);
}

const rowIds = (page: Page) => page.locator('#events tbody tr').evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-id'))));
const dbIds = async (where = 'TRUE', params: unknown[] = []) =>
  (await gate.controlPool.query(`SELECT id::int AS id FROM audit_events WHERE ${where} ORDER BY id DESC`, params)).rows.map((r) => r.id as number);


describe('carol, the auditor, in the browser', () => {
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    ({ context, page, problems } = await newPage());
  });
  afterAll(async () => {
    await context?.close();
  });

  test('signs in and opens the access log: pgaudit warning, chain intact, chart, newest first', async () => {
    await signInThroughIssuer(page, 'carol');
    const res = await page.goto(`${gate.url}/audit`);
    expect(res?.status()).toBe(200);
    await page.getByRole('heading', { name: 'Access log', level: 1 }).waitFor();

    const warning = page.locator('#pgaudit-status');
    expect(await warning.isVisible()).toBe(true);
    expect(await warning.getAttribute('role')).toBe('alert');
    expect(await warning.innerText()).toMatch(/PII reads are not being logged by PostgreSQL\.[\s\S]*pgaudit/);

    const chain = page.locator('#chain-status');
    expect(await chain.innerText()).toContain('Hash chain intact');
    const total = (await dbIds()).length;
    expect(await chain.innerText()).toContain(`${total} events checked`);

    expect(await page.locator('#pii-chart svg[role="img"]').isVisible()).toBe(true);
    expect(await page.locator('#pii-chart rect.s-read').count()).toBe(1);
    expect(await page.locator('#pii-chart rect.s-grant').count()).toBe(1);
    expect(await page.locator('#pii-chart').innerText()).toMatch(/12 PII reads and 1 PII grant\./);

    expect(await rowIds(page)).toEqual((await dbIds()).slice(0, 50));
    expect(await page.locator('#page-summary').innerText()).toContain('Showing 50 events, newest first');
    expect(await page.locator('header nav').getByRole('link', { name: 'Access log' }).getAttribute('aria-current')).toBe('page');
    await screenshot(page, 'audit-1-list');
  }, 40_000);

  test('the filter form narrows to credential.issued and keeps its values; Older/Newer walk the pages', async () => {
    await page.getByLabel('Action').selectOption('credential.issued');
    await page.getByLabel('Per page').selectOption('25');
    await Promise.all([page.waitForURL(/action=credential\.issued/), page.getByRole('button', { name: 'Apply filters' }).click()]);
    const expected = await dbIds(`action = 'credential.issued'`);
    expect(expected.length).toBeGreaterThan(1);
    expect(await rowIds(page)).toEqual(expected.slice(0, 25));
    const badges = await page.locator('#events tbody .badge').allInnerTexts();
    expect(new Set(badges)).toEqual(new Set(['credential.issued']));
    expect(await page.getByLabel('Action').inputValue()).toBe('credential.issued');
    expect(await page.getByLabel('Per page').inputValue()).toBe('25');
    expect(await page.getByRole('heading', { name: 'Matching events' }).isVisible()).toBe(true);
    await screenshot(page, 'audit-2-filtered');

    // Unfiltered, 25 per page: Older then Newer lands back on the same rows.
    await page.goto(`${gate.url}/audit?limit=25`);
    const firstPage = await rowIds(page);
    await Promise.all([page.waitForURL(/before=/), page.getByRole('link', { name: 'Older →' }).click()]);
    const second = await rowIds(page);
    expect(second).toEqual((await dbIds()).slice(25, 50));
    await Promise.all([page.waitForURL(/after=/), page.getByRole('link', { name: '← Newer' }).click()]);
    expect(await rowIds(page)).toEqual(firstPage);
  }, 30_000);

  test('an analyst filter with a typo-free name and a time range from the form', async () => {
    await page.goto(`${gate.url}/audit`);
    await page.getByLabel('Analyst (subject)').fill('alice');
    await page.getByLabel('From (UTC)').fill(new Date(Date.now() - 3_600_000).toISOString().slice(0, 16));
    await Promise.all([page.waitForURL(/analyst=alice/), page.getByRole('button', { name: 'Apply filters' }).click()]);
    expect(await rowIds(page)).toEqual(await dbIds(`subject = 'alice'`));
    expect(await page.getByLabel('Analyst (subject)').inputValue()).toBe('alice');

    await page.getByLabel('Analyst (subject)').fill('nobody-at-all');
    await Promise.all([page.waitForURL(/analyst=nobody-at-all/), page.getByRole('button', { name: 'Apply filters' }).click()]);
    expect(await page.locator('#empty').innerText()).toContain('No events match these filters');
    await screenshot(page, 'audit-3-empty');
  });

  test('opens an event and then the analyst timeline from it', async () => {
    await page.goto(`${gate.url}/audit?action=credential.issued&analyst=alice`);
    const [id] = await rowIds(page);
    await Promise.all([page.waitForURL(`${gate.url}/audit/events/${id}`), page.locator('#events tbody tr').first().getByRole('link', { name: `#${id}` }).click()]);
    await page.getByRole('heading', { name: `Event #${id}` }).waitFor();
    const stored = (await gate.controlPool.query('SELECT hash, details FROM audit_events WHERE id = $1', [id])).rows[0];
    expect(await page.locator('#event').innerText()).toContain(stored.hash);
    expect(JSON.parse(await page.locator('#event-details').innerText())).toEqual(stored.details);
    await screenshot(page, 'audit-4-event');

    await Promise.all([page.waitForURL(`${gate.url}/audit/analysts/alice`), page.getByRole('link', { name: 'timeline' }).click()]);
    await page.getByRole('heading', { name: 'Timeline of alice' }).waitFor();
    expect(await rowIds(page)).toEqual(await dbIds(`subject = 'alice' OR actor = 'alice'`));
    const stats = await page.locator('#timeline-stats').innerText();
    expect(stats).toMatch(/\d+\s+events/);
    await screenshot(page, 'audit-5-timeline');

    await page.goto(`${gate.url}/audit/events/${(await dbIds(`action = 'pii.read'`))[0]}`);
    await screenshot(page, 'audit-6-pii-event');
  });

  test('downloads the filtered CSV through the export link and gets exactly those rows', async () => {
    await page.goto(`${gate.url}/audit?action=pii.read`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#export-csv').click()]);
    expect(download.suggestedFilename()).toMatch(/^fdwg-audit-\d{8}T\d{6}Z\.csv$/);
    const rows = parseCsv(readFileSync((await download.path())!, 'utf8'));
    expect(rows[0]).toEqual(['id', 'at', 'actor', 'subject', 'action', 'request_id', 'dataset', 'details', 'prev_hash', 'hash']);
    expect(rows.slice(1).map((r) => Number(r[0]))).toEqual(await dbIds(`action = 'pii.read'`));
    expect(new Set(rows.slice(1).map((r) => r[4]))).toEqual(new Set(['pii.read']));

    // The whole log, with the formula cell neutralised.
    await page.goto(`${gate.url}/audit`);
    const [all] = await Promise.all([page.waitForEvent('download'), page.locator('#export-csv').click()]);
    const everything = parseCsv(readFileSync((await all.path())!, 'utf8'));
    expect(everything.length - 1).toBe((await dbIds()).length);
    expect(everything.find((r) => r[2]!.includes('calc'))?.[2]).toBe(`'=cmd|"/C calc"!A0`);
  });

  test('no auditor page broke the CSP, threw, or failed to load', () => {
    expect(problems).toEqual([]);
  });
});

describe('alice, an analyst, in the browser', () => {
  test('gets 403 on the auditor pages', async () => {
    const { context, page } = await newPage();
    try {
      await signInThroughIssuer(page, 'alice');
      for (const path of ['/audit', '/audit/analysts/alice', '/audit/events/1']) {
        const res = await page.goto(`${gate.url}${path}`);
        expect(res?.status(), path).toBe(403);
        expect(await page.locator('main').innerText()).toContain('The access log is open to auditors only.');
      }
      expect(await page.locator('header nav').count()).toBe(0);
      await screenshot(page, 'audit-7-analyst-forbidden');
    } finally {
      await context.close();
    }
  }, 30_000);
});
