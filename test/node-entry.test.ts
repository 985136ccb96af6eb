// The README's start command on embedded defaults, as a user runs it: a separate process with its
// own embedded PostgreSQL, demo data and issuer; then a second start on the same data.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { freePort } from './setup/global.js';

const dataDir = mkdtempSync(path.resolve('tmp/entry-'));
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function start(env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/node/main.ts'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function waitFor(s: Started, pattern: RegExp, ms: number) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (pattern.test(s.output())) return;
    if (s.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`did not see ${pattern} within ${ms} ms; output:\n${s.output()}`);
}

async function stop(s: Started) {
  s.child.kill('SIGTERM');
  expect(await s.exited, s.output()).toBe(0);
}

describe('npm start on embedded defaults', () => {
  test('comes up with demo data, says so, and a second start reuses the data', { timeout: 180_000 }, async () => {
    const ports = { PORT: await freePort(), EMBEDDED_PG_PORT: await freePort(), DEV_ISSUER_PORT: await freePort() };
    const env = {
      DATA_DIR: dataDir,
      DEMO_MESSAGES: '3000',
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    };
    const first = start(env);
    await waitFor(first, /Press Ctrl\+C to stop/, 150_000);
    const out = first.output();
    const url = out.match(/is up: (\S+)/)![1]!;
    expect(url).toBe(`http://localhost:${ports.PORT}`);
    expect(out).toMatch(/Generating the demo warehouse \(3,000 messages\)/);
    expect(out).toMatch(/100% \(3,000 \/ 3,000 messages\)/);
    for (const name of ['alice', 'bob', 'carol', 'mallory']) expect(out).toMatch(new RegExp(`^\\s+${name}\\s+${name}-demo`, 'm'));

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ready', demo: true });
    const landing = await (await fetch(`${url}/`)).text();
    expect(landing).toContain('Demo mode');
    await stop(first);

    const second = start(env);
    await waitFor(second, /Press Ctrl\+C to stop/, 60_000);
    expect(second.output()).not.toMatch(/Generating the demo warehouse/);
    const ready = second.output().match(/Embedded services ready in ([\d.]+) s/);
    expect(ready).not.toBeNull();
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await stop(second);
  });

  test('bad configuration is one clear message listing every problem', async () => {
    const s = start({ PORT: 'eighty', DATABASE_URL: 'mysql://nope', ROLE_PREFIX: 'Bad-Prefix' });
    expect(await s.exited).toBe(2);
    const out = s.output();
    expect(out).toMatch(/invalid configuration/);
    for (const key of ['PORT', 'DATABASE_URL', 'ROLE_PREFIX']) expect(out).toContain(`${key}:`);
    expect(out).not.toMatch(/\n\s+at /); // no stack trace
  });
});
