// The acceptance story in a real browser: Debian's Chromium driven by playwright-core through the
// gate's pages and the bundled issuer's login form, real PostgreSQL behind it. The values an analyst
// would copy from the page (role, password, snippets) are read from the page and the clipboard, then
// used with `pg` and with the real `psql` client.
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { launchBrowser, screenshot } from './support/browser.js';
import { type TestGate, analystClient, startTestGate } from './support/gate.js';

const run = promisify(execFile);
const PSQL = '/usr/bin/psql';

let gate: TestGate;
let browser: Browser;

beforeAll(async () => {
  [gate, browser] = await Promise.all([startTestGate(), launchBrowser()]);
});
afterAll(async () => {
  await browser?.close();
  await gate?.close();
});

async function newPage(opts: { clipboard?: boolean } = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  if (opts.clipboard) await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gate.url });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.setDefaultNavigationTimeout(15_000);
  return { context, page };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const issuerLoginUrl = () => new RegExp(`^${escapeRe(gate.issuer.issuer)}/interaction/`);

/** From the gate's landing page, through the issuer's login form; resolves when back at the gate. */
async function signInThroughIssuer(page: Page, username: string, shoot?: string) {
  await page.getByRole('link', { name: 'Sign in with Fedora Accounts' }).click();
  await page.waitForURL(issuerLoginUrl());
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  if (shoot) await screenshot(page, shoot);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(`${username}-demo`);
  // The last hop of the redirect chain issuer → /auth/callback → / is the page the user lands on.
  const [final] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${gate.url}/` && r.request().isNavigationRequest()),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  await page.waitForURL(`${gate.url}/`);
  return final;
}

/**
 * Clicks a form's submit button and checks the status of the POST it sends, so that a refused form
 * fails right here with the gate's own explanation instead of as a navigation timeout later.
 */
async function submit(page: Page, button: ReturnType<Page['getByRole']>, path: string, status: number) {
  const posted = page.waitForResponse((r) => r.url() === `${gate.url}${path}` && r.request().method() === 'POST');
  const [res] = await Promise.all([posted, button.click()]);
  if (res.status() !== status) {
    await page.waitForLoadState();
    const why = (await page.locator('main').innerText().catch(() => '')).replace(/\s+/g, ' ').trim();
    const origin = (await res.request().allHeaders()).origin;
    expect.fail(`POST ${path}: expected ${status}, got ${res.status()} (request Origin: ${origin}): ${why.slice(0, 300)}`);
  }
  return res;
}

/** Fails clearly when a step depends on an earlier one that failed. */
function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) expect.fail(`${what} is missing: an earlier step of this story failed`);
  return value;
}

async function checklist(page: Page) {
  const items = page.getByRole('list', { name: 'Gate checklist' }).getByRole('listitem');
  await items.first().waitFor();
  return items.evaluateAll((lis) =>
    lis.map((li) => ({
      // The visible ✓/✗ is aria-hidden, so the words alone must carry the state for screen readers.
      mark: `${li.querySelector('.mark')?.textContent?.trim()} (${li.className})`,
      text: (li.querySelector(':scope > span:not([aria-hidden])')?.textContent ?? '').replace(/\s+/g, ' ').trim(),
    })),
  );
}

async function expectPgError(p: Promise<unknown>, code: string) {
  await expect(p).rejects.toMatchObject({ code });
}

interface Shown {
  role: string;
  password: string;
  host: string;
  port: string;
  database: string;
  snippets: Record<'snip-psql' | 'snip-uri' | 'snip-pgpass' | 'snip-service', string>;
}

describe('an admitted analyst (alice) in the browser', () => {
  let context: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];
  // What the credential page showed (and the clipboard received).
  let shown: Shown | undefined;

  beforeAll(async () => {
    ({ context, page } = await newPage({ clipboard: true }));
    page.on('console', (m) => {
      // Failed loads are reported (with their URL) by the response listener below.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
        consoleErrors.push(`${new URL(page.url()).pathname}: ${m.text().slice(0, 160)}`);
      }
    });
    page.on('response', (r) => {
      // Browsers ask for /favicon.ico on their own; neither the gate nor the issuer serves one.
      if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') {
        consoleErrors.push(`${r.request().method()} ${r.url()}: HTTP ${r.status()}`);
      }
    });
    page.on('pageerror', (e) => consoleErrors.push(`${new URL(page.url()).pathname}: ${e.message}`));
  });
  afterAll(async () => {
    await context?.close();
  });

  test('signs in through the issuer and sees the checklist', async () => {
    const landing = await page.goto(gate.url);
    expect(landing?.status()).toBe(200);
    await page.getByRole('heading', { name: 'Access to the FDWG Datanommer warehouse' }).waitFor();
    expect(await page.getByRole('note').filter({ hasText: 'Demo mode' }).isVisible()).toBe(true);
    await screenshot(page, '1-landing');

    const final = await signInThroughIssuer(page, 'alice', '2-issuer-login');
    expect(final.status()).toBe(200);
    expect(await checklist(page)).toEqual([
      { mark: '✓ (yes)', text: 'Signed in as alice' },
      { mark: '✓ (yes)', text: 'Member of the FDWG group' },
      { mark: '✗ (no)', text: `Data-use agreement version ${gate.policy.agreement.version} not accepted yet` },
    ]);
    expect(await page.getByRole('note').filter({ hasText: 'Demo mode' }).isVisible()).toBe(true);
    expect(await page.locator('header').getByText('Signed in as alice').isVisible()).toBe(true);
    // No credentials before the agreement.
    expect(await page.getByRole('button', { name: 'Get credentials' }).count()).toBe(0);
    await screenshot(page, '3-checklist-before-agreement');
  }, 30_000);

  test('accepts the agreement, then gets credentials with every snippet and a working Copy button', async () => {
    await submit(page, page.getByRole('button', { name: 'I accept the agreement' }), '/agreement', 303);
    await page.waitForURL(`${gate.url}/?done=accepted`);
    await page.getByRole('status').filter({ hasText: 'Agreement accepted.' }).waitFor();
    expect((await checklist(page))[2]).toEqual({
      mark: '✓ (yes)',
      text: `Data-use agreement version ${gate.policy.agreement.version} accepted`,
    });
    expect(await page.getByRole('button', { name: 'I accept the agreement' }).count()).toBe(0);
    expect(await page.getByText('You have no valid password right now.').isVisible()).toBe(true);

    const res = await submit(page, page.getByRole('button', { name: 'Get credentials' }), '/credentials', 201);
    expect(res.headers()['cache-control']).toBe('no-store');
    await page.getByRole('heading', { name: 'Your credentials' }).waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('This password is shown once.');

    const text = async (sel: string) => ((await page.locator(sel).textContent()) ?? '').trim();
    shown = {
      role: await text('#cred-role'),
      password: await text('#cred-password'),
      host: await text('#cred-host'),
      port: await text('#cred-port'),
      database: await text('#cred-database'),
      snippets: {
        'snip-psql': await text('#snip-psql'),
        'snip-uri': await text('#snip-uri'),
        'snip-pgpass': await text('#snip-pgpass'),
        'snip-service': await text('#snip-service'),
      },
    };
    const { role, password, host, port, database, snippets } = shown;
    expect(role.startsWith(gate.prefix)).toBe(true);
    expect(password).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect({ host, port: Number(port), database }).toEqual(gate.config.analystDb);
    const expires = new Date((await page.locator('#cred-expires').getAttribute('datetime')) ?? '');
    const ttlMs = gate.policy.credentials.ttl_default * 1000;
    expect(Math.abs(expires.getTime() - (Date.now() + ttlMs))).toBeLessThan(60_000);
    expect(await text('#cred-expires')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);

    // The snippets carry exactly what the page shows above them.
    expect(snippets['snip-psql']).toBe(`psql "host=${host} port=${port} dbname=${database} user=${role}"`);
    expect(snippets['snip-psql']).not.toContain(password);
    expect(snippets['snip-uri']).toBe(
      `postgresql://${encodeURIComponent(role)}:${encodeURIComponent(password)}@${host}:${port}/${database}`,
    );
    expect(snippets['snip-pgpass'].endsWith(`:${role}:${password}`)).toBe(true);
    expect(snippets['snip-pgpass']).toBe(`${host}:${port}:${database}:${role}:${password}`);
    expect(snippets['snip-service'].split('\n')).toEqual([
      '[fdwg]',
      `host=${host}`,
      `port=${port}`,
      `dbname=${database}`,
      `user=${role}`,
    ]);
    for (const label of ['psql', 'Connection URI', '~/.pgpass line', '~/.pg_service.conf section']) {
      const heading = page.locator('.snippet .head strong').filter({ hasText: new RegExp(`^${escapeRe(label)}`) });
      expect(await heading.count(), label).toBe(1);
    }
    await screenshot(page, '4-credentials');

    // Every Copy button puts the exact text of its target on the real clipboard.
    for (const id of ['cred-password', 'snip-psql', 'snip-uri', 'snip-pgpass', 'snip-service']) {
      const button = page.locator(`button[data-copy="${id}"]`);
      expect(await button.count(), id).toBe(1);
      expect((await button.textContent())?.trim()).toBe('Copy');
      await page.evaluate(() => navigator.clipboard.writeText('(nothing copied)'));
      await button.click();
      await page.waitForFunction((b) => b?.textContent === 'Copied', await button.elementHandle(), { timeout: 1_400 });
      const clip = await page.evaluate(() => navigator.clipboard.readText());
      expect(clip, id).toBe(id === 'cred-password' ? password : snippets[id as keyof typeof snippets]);
    }
  }, 30_000);

  test('the values from the page read the pseudonymized tier and nothing else', async () => {
    const cred = need(shown, 'What the credential page showed');
    const c = analystClient(gate, cred.role, cred.password);
    await c.connect();
    try {
      const { rows } = await c.query('SELECT count(*)::int AS n FROM pseudonymized.messages');
      expect(rows[0].n).toBeGreaterThan(0);
      await expectPgError(c.query('SELECT * FROM pii.users LIMIT 1'), '42501');
      await expectPgError(c.query('DELETE FROM pseudonymized.messages'), '25006');
      await c.query('SET default_transaction_read_only = off');
      await expectPgError(c.query('DELETE FROM pseudonymized.messages'), '42501');
      await expectPgError(c.query('CREATE TABLE public.mine (x int)'), '42501');
    } finally {
      await c.end();
    }
    // The copied URI works as it is (what pandas or DBeaver would be given).
    const viaUri = new pg.Client({ connectionString: cred.snippets['snip-uri'] });
    await viaUri.connect();
    try {
      expect((await viaUri.query('SELECT current_user AS u')).rows[0].u).toBe(cred.role);
    } finally {
      await viaUri.end();
    }
  });

  test('the copied ~/.pgpass line and psql command work with the real psql', async () => {
    const cred = need(shown, 'What the credential page showed');
    try {
      accessSync(PSQL, constants.X_OK);
    } catch {
      throw new Error(`psql is missing at ${PSQL}; run \`bash scripts/ensure-test-deps.sh\` to install postgresql-client.`);
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fdwg-pgpass-'));
    try {
      const pgpass = path.join(dir, 'pgpass');
      writeFileSync(pgpass, `${cred.snippets['snip-pgpass']}\n`, { mode: 0o600 });
      // A clean libpq environment: the password can only come from the pgpass file.
      const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG')));
      env.PGPASSFILE = pgpass;
      env.PGCONNECT_TIMEOUT = '10';
      const cmd = `${cred.snippets['snip-psql']} -X -At -w -c 'select count(*) from pseudonymized.messages'`;
      const { stdout } = await run('bash', ['-c', cmd], { env, timeout: 15_000 });
      expect(stdout.trim()).toMatch(/^\d+$/);
      expect(Number(stdout.trim())).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the password is not shown again once the credential page is left', async () => {
    const cred = need(shown, 'What the credential page showed');
    const home = await page.goto(gate.url);
    expect(home?.status()).toBe(200);
    await page.getByRole('heading', { name: 'Warehouse credentials' }).waitFor();
    const html = await page.content();
    expect(html).not.toContain(cred.password);
    expect(html).not.toContain(encodeURIComponent(cred.password));
    // The lease itself is shown (role and expiry, no secret).
    const lease = page.getByText(/has a password valid until/);
    expect(await lease.textContent()).toContain(cred.role);
    expect(await page.locator('#cred-password').count()).toBe(0);
  });

  test('"Revoke now and end my sessions" ends open sessions and says so', async () => {
    const cred = need(shown, 'What the credential page showed');
    const live = analystClient(gate, cred.role, cred.password);
    live.on('error', () => {});
    await live.connect();
    await live.query('SELECT 1');

    await submit(page, page.getByRole('button', { name: 'Revoke now and end my sessions' }), '/credentials/revoke', 303);
    await page.waitForURL(`${gate.url}/?done=revoked`);
    await page.getByRole('status').filter({ hasText: 'Access revoked; your sessions were ended.' }).waitFor();
    expect(await page.getByText('You have no valid password right now.').isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Revoke now and end my sessions' }).count()).toBe(0);

    await expect(live.query('SELECT 1')).rejects.toThrow();
    await live.end().catch(() => {});
    await expect(analystClient(gate, cred.role, cred.password).connect()).rejects.toThrow(
      /password authentication failed|not permitted to log in/,
    );
  });

  test('signing out ends the gate session and offers Fedora Accounts\' own sign-out (Ipsilon has no end_session_endpoint)', async () => {
    await page.goto(gate.url);
    await page.locator('header').getByText('Signed in as alice').waitFor();
    await submit(page, page.locator('header').getByRole('button', { name: 'Sign out' }), '/auth/logout', 303);
    await page.waitForURL(`${gate.url}/?done=signed-out`);
    await page.getByRole('link', { name: 'Sign in with Fedora Accounts' }).waitFor();
    expect(await page.locator('header').getByText('Signed in as').count()).toBe(0);
    expect(await page.getByRole('status').textContent()).toContain('may still have you signed in');

    // The issuer's own page signs the browser out there (auto-submitted, then "Signed out").
    await page.getByRole('link', { name: 'Sign out of Fedora Accounts' }).click();
    await page.getByRole('heading', { name: 'Signed out' }).waitFor();

    // Signing in again needs the password again: no silent sign-in from an issuer session.
    await page.goto(`${gate.url}/auth/login`);
    await page.waitForURL(issuerLoginUrl());
    expect(await page.getByLabel('Username').isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Sign in', exact: true }).isVisible()).toBe(true);
  }, 20_000);

  test('no page broke its own Content-Security-Policy, threw a script error or failed to load', () => {
    // CSP violations (inline styles or scripts without the nonce) and script errors show up as
    // console errors; every page alice saw above was watched.
    expect(consoleErrors).toEqual([]);
  });
});

describe('someone outside the FDWG (mallory) in the browser', () => {
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    ({ context, page } = await newPage());
  });
  afterAll(async () => {
    await context?.close();
  });

  test('signs in and gets the "Not admitted" page (403), with no way to get credentials', async () => {
    await page.goto(gate.url);
    const final = await signInThroughIssuer(page, 'mallory');
    expect(final.status()).toBe(403);
    await page.getByRole('heading', { name: 'Not admitted' }).waitFor();
    const body = (await page.locator('main').textContent()) ?? '';
    expect(body).toContain('mallory');
    expect(body).toContain('packager');
    for (const g of gate.policy.admission.member_groups) expect(body).toContain(`"${g}"`);
    expect(await page.getByRole('button', { name: 'Get credentials' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'I accept the agreement' }).count()).toBe(0);
    expect(await page.locator('header').getByRole('button', { name: 'Sign out' }).isVisible()).toBe(true);
    await screenshot(page, '5-not-admitted');
  }, 30_000);
});
