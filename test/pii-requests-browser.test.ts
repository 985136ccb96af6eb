// The PII request story in real Chromium: alice asks for a dataset on /requests, bob decides it
// from the approval queue on /approvals, alice sees the grant and relinquishes it. The warehouse
// membership is checked in PostgreSQL at each step.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { datasetRole } from '../src/provisioner/roles.js';
import { launchBrowser, screenshot } from './support/browser.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { withClient } from './support/pg.js';

let gate: TestGate;
let browser: Browser;
const problems: string[] = [];

const PURPOSE = 'Match the 2026 maintainer roster to pseudonyms for the FDWG activity report (aggregates only).';

beforeAll(async () => {
  [gate, browser] = await Promise.all([startTestGate(), launchBrowser()]);
});
afterAll(async () => {
  await browser?.close();
  await gate?.close();
});

async function signedInPage(username: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.setDefaultNavigationTimeout(15_000);
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`${username} ${new URL(page.url()).pathname}: ${m.text().slice(0, 160)}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') problems.push(`${username} ${r.request().method()} ${r.url()}: HTTP ${r.status()}`);
  });
  page.on('pageerror', (e) => problems.push(`${username}: ${e.message}`));
  await page.goto(`${gate.url}/auth/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(`${username}-demo`);
  await Promise.all([page.waitForURL(`${gate.url}/`), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
  return { context, page };
}

/** Submits and checks the POST's status, so a refusal fails here with the gate's own words. */
async function submit(page: Page, button: ReturnType<Page['getByRole']>, path: string | RegExp, status = 303) {
  const match = (u: string) => (typeof path === 'string' ? u === `${gate.url}${path}` : path.test(u));
  const posted = page.waitForResponse((r) => match(r.url()) && r.request().method() === 'POST');
  const [res] = await Promise.all([posted, button.click()]);
  if (res.status() !== status) {
    await page.waitForLoadState();
    const why = (await page.locator('main').innerText().catch(() => '')).replace(/\s+/g, ' ').trim();
    expect.fail(`POST ${res.url()}: expected ${status}, got ${res.status()}: ${why.slice(0, 300)}`);
  }
  await page.waitForLoadState();
  return res;
}

async function memberships(): Promise<string[]> {
  return withClient(gate.warehouseAdminUrl, async (c) =>
    (await c.query<{ g: string }>(
      `SELECT g.rolname AS g FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
        WHERE u.rolname LIKE $1 AND u.rolname <> $3 AND g.rolname LIKE $2 ORDER BY 1`,
      [`${gate.prefix}%`, `${gate.prefix}pii\\_%`, gate.roles.gate],
    )).rows.map((r) => r.g),
  );
}

describe('request, approve from the queue, see the grant, relinquish', () => {
  let alice: Page;
  let bob: Page;
  let requestId = 0;

  test('alice asks for a dataset from the Requests page', async () => {
    ({ page: alice } = await signedInPage('alice'));
    await submit(alice, alice.getByRole('button', { name: 'I accept the agreement' }), '/agreement');
    await alice.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Requests' }).click();
    await alice.getByRole('heading', { name: 'PII datasets' }).waitFor();
    // Each dataset shows what it is, its tables, its longest duration and how many approvals it needs.
    const ids = alice.locator('label.dataset').filter({ hasText: 'maintainer_identities' });
    expect(await ids.innerText()).toMatch(/Tables: pii\.users · at most 30 days · 1 approval · purpose of at least 40 characters/);
    expect(await alice.locator('label.dataset').filter({ hasText: 'message_text' }).innerText()).toMatch(/pii\.message_text · at most 7 days · 2 approvals/);
    await ids.getByRole('checkbox').check();
    await alice.getByLabel(/^Purpose/).fill(PURPOSE);
    await alice.getByLabel('Duration').selectOption({ label: '3 days' });
    await screenshot(alice, 'pii-1-request-form');
    await submit(alice, alice.getByRole('button', { name: 'Send request' }), '/requests');
    await alice.getByRole('status').filter({ hasText: 'Request sent.' }).waitFor();
    const row = alice.locator('#my-requests tbody tr').first();
    requestId = Number(await row.getAttribute('data-request'));
    expect(requestId).toBeGreaterThan(0);
    expect(await row.innerText()).toMatch(/maintainer_identities[\s\S]*3 days[\s\S]*pending[\s\S]*0 of 1 approval/);
    expect(await memberships()).toEqual([]);
  }, 40_000);

  test('bob sees it in the queue with who asks, tables, purpose and duration, and approves it with a comment', async () => {
    ({ page: bob } = await signedInPage('bob'));
    await bob.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Approvals' }).click();
    const card = bob.getByRole('region', { name: `Request #${requestId} by alice` });
    await card.waitFor();
    const text = await card.innerText();
    expect(text).toContain('maintainer_identities');
    expect(text).toContain('pii.users');
    expect(text).toContain(PURPOSE);
    expect(text).toContain('3 days');
    expect(text).toMatch(/Past requests\s+none/);
    await card.getByLabel('Comment (sent to the analyst)').fill('Aggregates only, please.');
    await screenshot(bob, 'pii-2-approval-queue');
    await submit(bob, card.getByRole('button', { name: `Approve request #${requestId}` }), `/approvals/${requestId}`);
    await bob.getByRole('status').filter({ hasText: `Request #${requestId} approved: access granted.` }).waitFor();
    expect(await bob.locator('#queue-empty').isVisible()).toBe(true);
    expect(await bob.locator('#live-grants tbody tr').first().innerText()).toMatch(/alice\s+maintainer_identities\s+#\d+/);
    expect(await memberships()).toEqual([datasetRole(gate.prefix, 'maintainer_identities')]);
  }, 40_000);

  test('alice sees the approval and her access, then relinquishes it', async () => {
    await alice.goto(`${gate.url}/requests`);
    const row = alice.locator(`#my-requests tr[data-request="${requestId}"]`);
    expect(await row.innerText()).toMatch(/approved[\s\S]*by bob[\s\S]*Aggregates only, please\.[\s\S]*maintainer_identities readable until \d{4}-\d\d-\d\d/);
    await screenshot(alice, 'pii-3-granted');
    await submit(alice, alice.getByRole('button', { name: `Relinquish access from request #${requestId}` }), `/requests/${requestId}/relinquish`);
    await alice.getByRole('status').filter({ hasText: 'Access relinquished' }).waitFor();
    expect(await alice.locator(`#my-requests tr[data-request="${requestId}"]`).innerText()).toMatch(/ended .* \(relinquished by alice\)/);
    expect(await memberships()).toEqual([]);
  }, 30_000);

  test("bob's own request is in his queue but not approvable by him", async () => {
    await bob.goto(`${gate.url}/`);
    await submit(bob, bob.getByRole('button', { name: 'I accept the agreement' }), '/agreement');
    await bob.goto(`${gate.url}/requests`);
    await bob.locator('label.dataset').filter({ hasText: 'maintainer_identities' }).getByRole('checkbox').check();
    await bob.getByLabel(/^Purpose/).fill(PURPOSE);
    await submit(bob, bob.getByRole('button', { name: 'Send request' }), '/requests');
    await bob.goto(`${gate.url}/approvals`);
    const card = bob.getByRole('region', { name: /by bob$/ });
    await card.waitFor();
    expect(await card.getByRole('button', { name: /Approve/ }).count()).toBe(0);
    expect(await card.innerText()).toContain('Your own request: another approver decides it.');
    // alice's earlier request shows in nobody's history but hers; bob's has none.
    expect(await card.innerText()).toMatch(/Past requests\s+none/);
  }, 30_000);

  test('no page broke its Content-Security-Policy, threw a script error or failed to load', () => {
    expect(problems).toEqual([]);
  });
});
