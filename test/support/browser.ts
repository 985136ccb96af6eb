// Browser harness: playwright-core driving Debian's Chromium (never a downloaded browser).
// `bash scripts/ensure-test-deps.sh` installs /usr/bin/chromium; without it the browser tests
// fail loudly instead of being skipped.
import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const SCREENSHOT_DIR = path.resolve('tmp/screenshots');

export async function launchBrowser(): Promise<Browser> {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
  } catch {
    throw new Error(
      `Chromium is missing at ${CHROMIUM_PATH}: the browser tests need it. ` +
        'Run `bash scripts/ensure-test-deps.sh` (as root) to install it from Debian. ' +
        'Do not use `npx playwright install`.',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Full-page screenshot to tmp/screenshots/<name>.png; returns the file path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
