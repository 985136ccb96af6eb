// A person finishing `fdwg login` in Chromium: the address the CLI printed, the issuer's login form,
// the gate's "Allow" (loopback) or "Confirm" (device) page. No vitest imports.
import type { Page, Request } from 'playwright-core';
import type { TestGate } from './gate-core.js';

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Where the page is now, and its visible text (for failure messages). */
export async function describePage(page: Page): Promise<string> {
  const text = (await page.locator('body').innerText().catch(() => '')).replace(/\s+/g, ' ').trim();
  return `${page.url()}: ${text.slice(0, 400)}`;
}

/** Opens `url`; when the gate sends the browser to the issuer, signs in there as `username`. */
export async function openSignedIn(page: Page, gate: TestGate, url: string, username: string): Promise<void> {
  await page.goto(url);
  if (new RegExp(`^${escapeRe(gate.issuer.issuer)}/interaction/`).test(page.url())) {
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(`${username}-demo`);
    await Promise.all([
      page.waitForURL((u) => u.toString().startsWith(gate.url), { timeout: 15_000 }),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
  }
}

/** Accepts the current data-use agreement on the gate's start page (signed in already). */
export async function acceptAgreement(page: Page, gate: TestGate): Promise<void> {
  await page.goto(`${gate.url}/`);
  const accept = page.getByRole('button', { name: 'I accept the agreement' });
  if ((await accept.count()) === 0) return;
  await Promise.all([page.waitForURL(`${gate.url}/?done=accepted`), accept.click()]);
}

/**
 * The loopback sign-in: the authorize address the CLI printed, sign-in, then "Allow" or "Cancel".
 * Resolves with the text of the page the CLI's listener answered on 127.0.0.1.
 */
export async function finishLoopback(page: Page, gate: TestGate, url: string, username: string, button: 'Allow' | 'Cancel' = 'Allow'): Promise<string> {
  await openSignedIn(page, gate, url, username);
  const allow = page.getByRole('button', { name: button, exact: true });
  await allow.waitFor({ timeout: 10_000 }).catch(async () => {
    throw new Error(`no "${button}" button on the gate's page: ${await describePage(page)}`);
  });
  // What the browser refused on the way makes a failure readable. (A redirect that the page's
  // Content-Security-Policy `form-action` does not allow ends as net::ERR_ABORTED with no request.)
  const console: string[] = [];
  const onConsole = (m: { type(): string; text(): string }) => void (m.type() === 'error' && console.push(m.text()));
  page.on('console', onConsole);
  const onFailed = (r: Request) => void console.push(`failed: ${r.url().slice(0, 80)} ${r.failure()?.errorText ?? ''}`);
  page.on('requestfailed', onFailed);
  try {
    await Promise.all([page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/, { timeout: 15_000 }), allow.click()]);
  } catch (err) {
    throw new Error(`the browser did not reach the CLI's listener after "${button}": ${(err as Error).message.split('\n')[0]}; console: ${console.join(' | ') || '(nothing)'}; ${await describePage(page)}`);
  } finally {
    page.off('console', onConsole);
    page.off('requestfailed', onFailed);
  }
  return (await page.locator('body').innerText()).replace(/\s+/g, ' ').trim();
}

/** The device sign-in: the address with the code, sign-in, "Confirm" or "Deny"; resolves with the gate's answer page text. */
export async function finishDevice(page: Page, gate: TestGate, url: string, username: string, button: 'Confirm' | 'Deny' = 'Confirm'): Promise<{ code: string; text: string }> {
  await openSignedIn(page, gate, url, username);
  const input = page.getByLabel('Code');
  await input.waitFor({ timeout: 10_000 }).catch(async () => {
    throw new Error(`no "Code" field on the gate's page: ${await describePage(page)}`);
  });
  const code = await input.inputValue();
  await Promise.all([
    page.waitForResponse((r) => r.url() === `${gate.url}/cli/device` && r.request().method() === 'POST'),
    page.getByRole('button', { name: button, exact: true }).click(),
  ]);
  await page.waitForLoadState();
  return { code, text: (await page.locator('main').innerText()).replace(/\s+/g, ' ').trim() };
}
