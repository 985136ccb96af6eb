// The admin page: erin (fdwg-admins) sees the reconciler's plan, the drift and the policy version
// in force, in Debian's Chromium; analysts and auditors get 403, strangers 401.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { policyVersion } from '../src/policy/version.js';
import { launchBrowser, screenshot } from './support/browser.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { HttpSession, signIn } from './support/http-session.js';
import { uniqueSuffix, withClient } from './support/pg.js';

let gate: TestGate;
let browser: Browser;

beforeAll(async () => {
  [gate, browser] = await Promise.all([startTestGate({ demoMessages: 200 }), launchBrowser()]);
});
afterAll(async () => {
  await browser?.close();
  await gate?.close();
});

async function signInPage(username: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(gate.url);
  await page.getByRole('link', { name: 'Sign in with Fedora Accounts' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(`${username}-demo`);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${gate.url}/`);
  return page;
}

test('only admins open /admin: 401 without a session, 403 for an analyst and an auditor', async () => {
  expect((await fetch(`${gate.url}/admin`, { headers: { accept: 'application/json' } })).status).toBe(401);
  for (const who of ['alice', 'carol']) {
    const s = new HttpSession();
    await signIn(s, gate.url, who, `${who}-demo`);
    const res = await s.request(`${gate.url}/admin`);
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('Current plan');
  }
});

test('erin sees the policy version, no drift on a fresh warehouse, then the drift a DBA made by hand', async () => {
  const page = await signInPage('erin');
  await page.getByRole('link', { name: 'Admin' }).click();
  await page.waitForURL(`${gate.url}/admin`);
  const version = await policyVersion(gate.policy);
  await expect(page.locator('#policy-version').textContent()).resolves.toContain(`sha256:${version.sha256}`);
  await expect(page.locator('#policy-version').textContent()).resolves.toContain(`version ${gate.policy.agreement.version}`);
  await expect(page.locator('#drift').textContent()).resolves.toContain('Drift (0)');
  await expect(page.locator('#plan').textContent()).resolves.toContain('Nothing to do.');

  const stray = `${gate.prefix}stray${uniqueSuffix()}`;
  await withClient(gate.warehouseAdminUrl, async (c) => {
    await c.query(`CREATE ROLE "${stray}" LOGIN`);
    await c.query(`GRANT SELECT ON pii.users TO "${gate.roles.pseudonymized}"`);
  });
  await page.reload();
  const drift = (await page.locator('#drift li').allTextContents()).join('\n');
  expect(drift).toContain(`role ${stray} has the gate's prefix but is neither a managed group nor a known analyst`);
  expect(drift).toContain(`${gate.roles.pseudonymized} holds SELECT on table pii.users, which the policy does not give`);
  const rows = await page.locator('#plan-steps tbody tr').allTextContents();
  expect(rows.find((r) => r.includes(`REVOKE SELECT ON TABLE "pii"."users" FROM "${gate.roles.pseudonymized}"`))).toContain('DBA (pending)');
  // Created by a superuser, so the gate lacks ADMIN on it: both the NOLOGIN and the session end wait for a DBA.
  expect(rows.filter((r) => r.includes(stray) && r.includes('DBA (pending)'))).toHaveLength(2);
  await screenshot(page, 'admin-drift');
  // Looking changed nothing.
  await withClient(gate.warehouseAdminUrl, async (c) => {
    expect((await c.query(`SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, [stray])).rows[0].rolcanlogin).toBe(true);
    await c.query(`DROP ROLE "${stray}"`);
    await c.query(`REVOKE SELECT ON pii.users FROM "${gate.roles.pseudonymized}"`);
  });
});

test('analysts do not get an Admin link', async () => {
  const page = await signInPage('alice');
  expect(await page.getByRole('link', { name: 'Admin' }).count()).toBe(0);
});
