// `fdwg` end to end: the real command line (`node bin/fdwg.mjs`, its own HOME) against a real gate,
// signed in by Chromium through the issuer's login form (loopback and device), then the real psql
// reading what `fdwg creds` wrote. Nothing is mocked.
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parsePgpassLine, upsertPgpass } from '../src/cli/pgfiles.js';
import { freePort } from '../src/dev/net.js';
import { launchBrowser } from './support/browser.js';
import { type CliResult, cliEnv, psql, runCli, runProcess, startCli, FDWG_BIN } from './support/cli.js';
import { acceptAgreement, describePage, finishDevice, finishLoopback, openSignedIn } from './support/cli-browser.js';
import { type TestGate, startTestGate } from './support/gate.js';

let gate: TestGate;
let browser: Browser;

beforeAll(async () => {
  [gate, browser] = await Promise.all([startTestGate(), launchBrowser()]);
});
afterAll(async () => {
  await browser?.close();
  await gate?.close();
});

/** Fails with everything the CLI said when the exit code is not the expected one. */
function expectExit(r: CliResult, code: number) {
  if (r.code !== code) expect.fail(`expected exit ${code}, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  return { context, page };
}

async function control<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: gate.controlAdminUrl });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

const mode = (file: string) => statSync(file).mode & 0o777;
const tokenFiles = (env: NodeJS.ProcessEnv) => readdirSync(path.join(env.XDG_CONFIG_HOME!, 'fdwg')).map((f) => path.join(env.XDG_CONFIG_HOME!, 'fdwg', f));
const storedToken = (env: NodeJS.ProcessEnv) => JSON.parse(readFileSync(tokenFiles(env)[0]!, 'utf8')) as { token: string; username: string; gate: string };

/** `fdwg login --no-open` finished in the browser with "Allow" (or "Cancel"). */
async function loopbackLogin(env: NodeJS.ProcessEnv, page: Page, username: string, button: 'Allow' | 'Cancel' = 'Allow') {
  const cli = startCli(['login', '--no-open'], env);
  const [, url] = await cli.waitFor(/^\s+(http:\/\/\S+\/cli\/authorize\?\S+)$/m);
  const shown = await finishLoopback(page, gate, url!, username, button);
  return { url: new URL(url!), shown, result: await cli.done };
}

/** `fdwg login --device` confirmed (or denied) in the browser at the printed address. */
async function deviceLogin(env: NodeJS.ProcessEnv, page: Page, username: string, button: 'Confirm' | 'Deny' = 'Confirm') {
  const cli = startCli(['login', '--device'], env);
  const [, complete] = await cli.waitFor(/Or open (\S+) \(the code is filled in\)/);
  const [, printed] = await cli.waitFor(/^\s+([A-Z0-9]{4}-[A-Z0-9]{4})\s*$/m);
  const page_ = await finishDevice(page, gate, complete!, username, button);
  return { printed: printed!, ...page_, result: await cli.done };
}

const PURPOSE = 'Join 2025 package update activity to the maintainer roster for the FESCo report';

describe('fdwg against a real gate', () => {
  const alice = cliEnv('');
  let aliceBrowser: { context: BrowserContext; page: Page };
  let role = '';
  let requestId = 0;

  beforeAll(async () => {
    alice.FDWG_GATE_URL = gate.url;
    aliceBrowser = await newPage();
  });
  afterAll(async () => {
    await aliceBrowser?.context.close();
  });

  test('help, usage errors, and no token: exits 0, 2 and 3 with what to do', async () => {
    const help = await runCli(['--help'], alice);
    expectExit(help, 0);
    expect(help.stdout).toContain('Exit codes:');
    expect(help.stdout).toContain('postgresql:///?service=fdwg');
    const credsHelp = await runCli(['creds', '--help'], alice);
    expectExit(credsHelp, 0);
    expect(credsHelp.stdout).toContain('eval "$(fdwg creds --env)"');
    expectExit(await runCli(['frobnicate'], alice), 2);
    expectExit(await runCli(['creds', '--ttl', '8'], alice), 2);
    expectExit(await runCli(['creds', '--env', '--json'], alice), 2);

    const status = await runCli(['status'], alice);
    expectExit(status, 3);
    expect(status.stderr).toContain(`Not signed in to ${gate.url}. Run \`fdwg login\``);
    expectExit(await runCli(['creds'], alice), 3);
    const logout = await runCli(['logout'], alice);
    expectExit(logout, 0);
    expect(logout.stdout).toContain('nothing to do');
  });

  test('a gate that does not answer: exit 6', async () => {
    const r = await runCli(['--gate', `http://127.0.0.1:${await freePort()}`, 'login', '--device'], alice);
    expectExit(r, 6);
    expect(r.stderr).toMatch(/Cannot reach the gate at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });

  test('device login in Chromium at the printed address: the code is filled in, "Confirm" stores a 0600 token', async () => {
    const { page } = aliceBrowser;
    // alice accepts the data-use agreement first: the gate lets a member sign a CLI in only then.
    await openSignedIn(page, gate, `${gate.url}/auth/login`, 'alice');
    await acceptAgreement(page, gate);

    const login = await deviceLogin(alice, page, 'alice');
    expectExit(login.result, 0);
    expect(login.code).toBe(login.printed);
    expect(login.text).toContain('is signed in as alice');
    expect(login.result.stdout).toMatch(new RegExp(`Signed in to ${gate.url} as alice; the token is valid until \\d{4}-`));

    const files = tokenFiles(alice);
    expect(files).toHaveLength(1);
    expect(mode(files[0]!)).toBe(0o600);
    expect(mode(path.dirname(files[0]!))).toBe(0o700);
    const stored = storedToken(alice);
    expect(stored).toMatchObject({ gate: gate.url, username: 'alice' });
    expect(login.result.stdout + login.result.stderr).not.toContain(stored.token);
  }, 60_000);

  test('loopback login in Chromium: "Cancel" is exit 7, "Allow" signs in with PKCE through 127.0.0.1', async () => {
    // Its own home, so a failure here leaves the rest of alice's story alone.
    const env = cliEnv(gate.url);
    const { page } = aliceBrowser;
    const cancelled = await loopbackLogin(env, page, 'alice', 'Cancel');
    expectExit(cancelled.result, 7);
    expect(cancelled.result.stderr).toContain('cancelled in the browser');
    expect(cancelled.shown).toContain('Sign-in was cancelled');
    expect(existsSync(path.join(env.XDG_CONFIG_HOME!, 'fdwg'))).toBe(false);

    const { url, shown, result } = await loopbackLogin(env, page, 'alice');
    expectExit(result, 0);
    expect(url.searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get('client_name')).toBe(`fdwg on ${os.hostname()}`.slice(0, 100));
    expect(shown).toContain('signed in as alice; you can close this tab');
    expect(result.stdout).toMatch(new RegExp(`Signed in to ${gate.url} as alice; the token is valid until \\d{4}-`));
    expect(mode(tokenFiles(env)[0]!)).toBe(0o600);
    const status = await runCli(['status'], env);
    expectExit(status, 0);
    expect(status.stdout).toContain('Signed in:   alice');
    expectExit(await runCli(['logout'], env), 0);
  }, 60_000);

  test('creds without the current agreement: exit 5, naming where to accept it; accepted with the token, creds works', async () => {
    // A new agreement version in force looks like this: alice's acceptance of the current one is gone.
    await control(`DELETE FROM agreement_acceptances WHERE analyst_id = (SELECT id FROM analysts WHERE username = 'alice')`);
    const refused = await runCli(['creds'], alice);
    expectExit(refused, 5);
    expect(refused.stderr).toContain(`${gate.url}/`);
    expect(refused.stderr).toContain(gate.policy.agreement.version);

    const res = await fetch(`${gate.url}/api/agreement`, {
      method: 'POST',
      headers: { authorization: `Bearer ${storedToken(alice).token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ version: gate.policy.agreement.version }),
    });
    expect(res.status).toBe(200);
  });

  const foreignPgpass = '# my own databases\ndb.example.org:5432:*:alice:hunter2\n*:*:*:someone_else:x\n';
  const foreignService = '# services\n[prod]\nhost=db.example.org\ndbname=prod\n';
  const pgpassFile = () => path.join(alice.HOME!, '.pgpass');
  const serviceFile = () => path.join(alice.HOME!, '.pg_service.conf');
  const ourLines = (content: string) =>
    content.split('\n').filter((l) => {
      const f = parsePgpassLine(l);
      return f?.[3]?.value === role && !f[3].wildcard;
    });

  test('creds writes one ~/.pgpass line and one [fdwg] section (0600), never prints the password; psql service=fdwg works', async () => {
    writeFileSync(pgpassFile(), foreignPgpass, { mode: 0o600 });
    writeFileSync(serviceFile(), foreignService, { mode: 0o644 });

    const r = await runCli(['creds'], alice);
    expectExit(r, 0);
    role = /Password for (\S+) valid until/.exec(r.stdout)?.[1] ?? '';
    expect(role.startsWith(gate.prefix)).toBe(true);
    expect(r.stdout).toContain('psql service=fdwg');

    const pgpass = readFileSync(pgpassFile(), 'utf8');
    const { host, port, database } = gate.config.analystDb;
    expect(pgpass.startsWith(foreignPgpass)).toBe(true);
    const [line, ...more] = ourLines(pgpass);
    expect(more).toEqual([]);
    const password = parsePgpassLine(line!)![4]!.value;
    expect(line).toBe(`${host}:${port}:${database}:${role}:${password}`);
    expect(password.length).toBeGreaterThanOrEqual(32);
    expect(r.stdout + r.stderr).not.toContain(password);
    expect(readFileSync(serviceFile(), 'utf8')).toBe(`${foreignService}\n[fdwg]\nhost=${host}\nport=${port}\ndbname=${database}\nuser=${role}\n`);
    expect(mode(pgpassFile())).toBe(0o600);
    expect(mode(serviceFile())).toBe(0o600);

    const q = await psql(['service=fdwg', '-c', 'select count(*) from pseudonymized.messages'], alice);
    expectExit(q, 0);
    expect(Number(q.stdout.trim())).toBeGreaterThan(0);
  });

  test('a second creds updates the line and the section in place; foreign lines and sections around them survive', async () => {
    // The user adds their own things after ours.
    writeFileSync(pgpassFile(), `${readFileSync(pgpassFile(), 'utf8')}other.example.org:5432:db:me:pw\n`);
    writeFileSync(serviceFile(), `${readFileSync(serviceFile(), 'utf8').replace('user=', 'sslmode=prefer\nuser=')}\n# staging\n[staging]\nhost=staging.example.org\n`);
    const before = { pgpass: readFileSync(pgpassFile(), 'utf8'), service: readFileSync(serviceFile(), 'utf8') };
    const oldPassword = parsePgpassLine(ourLines(before.pgpass)[0]!)![4]!.value;

    const r = await runCli(['creds', '--ttl', '2h'], alice);
    expectExit(r, 0);
    expect(r.stdout).toContain('.pgpass: line updated');
    expect(r.stdout).toContain('[fdwg] section unchanged');
    expect(r.stdout).toMatch(/valid until .* \(in (1h 59m|2h)\)/);

    const pgpass = readFileSync(pgpassFile(), 'utf8');
    const newPassword = parsePgpassLine(ourLines(pgpass)[0]!)![4]!.value;
    expect(ourLines(pgpass)).toHaveLength(1);
    expect(newPassword).not.toBe(oldPassword);
    // Byte for byte the same file but for the password.
    expect(pgpass).toBe(before.pgpass.replace(oldPassword, newPassword));
    expect(readFileSync(serviceFile(), 'utf8')).toBe(before.service);
    expect(before.service.match(/^\[fdwg\]$/gm)).toHaveLength(1);
    expect(mode(pgpassFile())).toBe(0o600);

    const q = await psql(['service=fdwg', '-c', 'select current_user'], alice);
    expectExit(q, 0);
    expect(q.stdout.trim()).toBe(role);
    // The first password is over.
    const { host, port, database } = gate.config.analystDb;
    const old = new pg.Client({ host, port, database, user: role, password: oldPassword });
    await expect(old.connect()).rejects.toMatchObject({ code: '28P01' });
  });

  test('--env prints export lines only (the summary goes to stderr); eval "$(fdwg creds --env)" && psql works', async () => {
    const r = await runCli(['creds', '--env'], alice);
    expectExit(r, 0);
    const { host, port, database } = gate.config.analystDb;
    expect(r.stdout).toBe(
      `export PGHOST=${host}\nexport PGPORT=${port}\nexport PGDATABASE=${database}\nexport PGUSER=${role}\nexport PGPASSFILE=${pgpassFile()}\n`,
    );
    expect(r.stderr).toContain('Password for');

    // No service file in reach: only the exported variables lead psql.
    const bare = mkdtempSync(path.join(os.tmpdir(), 'fdwg-bare-'));
    const shell = await runProcess(
      '/bin/bash',
      ['-c', `eval "$("${process.execPath}" "${FDWG_BIN}" creds --env)" && psql -X -A -t -c 'select current_user, count(*) from pseudonymized.messages'`],
      { ...alice, PATH: `/usr/bin:/bin`, PGSERVICEFILE: path.join(bare, 'none.conf') },
    );
    expectExit(shell, 0);
    expect(shell.stdout.trim()).toMatch(new RegExp(`^${role}\\|\\d+$`));
  });

  test('status shows who, standing, agreement and the password expiry', async () => {
    const r = await runCli(['status'], alice);
    expectExit(r, 0);
    expect(r.stdout).toContain('Signed in:   alice (token valid until');
    expect(r.stdout).toContain('Standing:    member');
    expect(r.stdout).toContain(`Agreement:   version ${gate.policy.agreement.version} accepted`);
    expect(r.stdout).toContain(`Admitted:    yes, as role ${role}`);
    expect(r.stdout).toMatch(/Password:    valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in (7h 59m|8h)\)/);
    expect(r.stdout).toContain('PII access:  none');
    const json = await runCli(['status', '--json'], alice);
    expectExit(json, 0);
    expect(JSON.parse(json.stdout)).toMatchObject({ username: 'alice', admitted: true, role, liveGrants: [] });
  });

  test('PII: alice requests, bob (device login in Chromium) approves, status shows the grant, alice relinquishes', async () => {
    const ds = await runCli(['datasets'], alice);
    expectExit(ds, 0);
    expect(ds.stdout).toContain('maintainer_identities: up to 30d, 1 approval');

    const asked = await runCli(['request', 'maintainer_identities', '--for', '1d', '--purpose', PURPOSE], alice);
    expectExit(asked, 0);
    requestId = Number(/Request #(\d+) for maintainer_identities is pending/.exec(asked.stdout)?.[1]);
    expect(requestId).toBeGreaterThan(0);
    // alice is no approver.
    expectExit(await runCli(['approve', String(requestId)], alice), 7);
    expectExit(await runCli(['approvals'], alice), 7);

    const bob = cliEnv(gate.url);
    const { context, page } = await newPage();
    try {
      await openSignedIn(page, gate, `${gate.url}/auth/login`, 'bob');
      await acceptAgreement(page, gate);
      const login = await deviceLogin(bob, page, 'bob');
      expectExit(login.result, 0);
      expect(login.code).toBe(login.printed);
      expect(login.text).toContain('is signed in as bob');
      expect(login.result.stdout).toContain('as bob');
    } finally {
      await context.close();
    }
    const queue = await runCli(['approvals'], bob);
    expectExit(queue, 0);
    expect(queue.stdout).toContain(`#${requestId}  pending   maintainer_identities  for 1d  by alice`);
    expect(queue.stdout).toContain(`fdwg approve ${requestId}`);
    expectExit(await runCli(['deny', String(requestId)], bob), 2);
    const approved = await runCli(['approve', String(requestId), '--comment', 'ok for the roster join'], bob);
    expectExit(approved, 0);
    expect(approved.stdout).toContain(`Request #${requestId} approved: alice has access to maintainer_identities now.`);
    expectExit(await runCli(['approve', String(requestId)], bob), 7);

    const status = await runCli(['status'], alice);
    expectExit(status, 0);
    expect(status.stdout).toMatch(new RegExp(`PII access:  maintainer_identities until .* \\(request #${requestId}\\)`));
    const q = await psql(['service=fdwg', '-c', 'select count(*) > 0 from pii.users'], alice);
    expectExit(q, 0);
    expect(q.stdout.trim()).toBe('t');

    const mine = await runCli(['requests'], alice);
    expectExit(mine, 0);
    expect(mine.stdout).toContain(`#${requestId}  approved`);
    expect(mine.stdout).toContain('approved by bob: ok for the roster join');
    expect(mine.stdout).toMatch(/access to maintainer_identities: live until/);

    expectExit(await runCli(['relinquish', String(requestId)], alice), 0);
    expectExit(await runCli(['relinquish', String(requestId)], alice), 7);
    expect((await runCli(['status'], alice)).stdout).toContain('PII access:  none');
    expectExit(await runCli(['relinquish', 'x12'], alice), 2);
  }, 90_000);

  test('revoke ends the password at once', async () => {
    const r = await runCli(['revoke'], alice);
    expectExit(r, 0);
    expect(r.stdout).toContain('Password revoked');
    const q = await psql(['service=fdwg', '-c', 'select 1'], alice);
    expect(q.code).not.toBe(0);
    expect((await runCli(['status'], alice)).stdout).toContain('Password:    none valid; `fdwg creds` issues one');
  });

  test('logout ends the token at the gate and removes it here; the next status is exit 3', async () => {
    const { token } = storedToken(alice);
    const saved = { file: tokenFiles(alice)[0]!, content: readFileSync(tokenFiles(alice)[0]!, 'utf8') };
    const r = await runCli(['logout'], alice);
    expectExit(r, 0);
    expect(r.stdout).toContain('the token is ended at the gate and removed here');
    expect(readdirSync(path.join(alice.XDG_CONFIG_HOME!, 'fdwg'))).toEqual([]);
    const status = await runCli(['status'], alice);
    expectExit(status, 3);
    // A copy of the token kept elsewhere is dead too.
    const res = await fetch(`${gate.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
    // A stale copy put back in place: the gate refuses it, the CLI says so (exit 3, the gate's reason).
    writeFileSync(saved.file, saved.content, { mode: 0o600 });
    const stale = await runCli(['status'], alice);
    expectExit(stale, 3);
    expect(stale.stderr).toContain(`Not signed in to ${gate.url}: `);
    expect(stale.stderr).toContain('Run `fdwg login`');
  });
});

describe('people without warehouse access', () => {
  test('carol (auditor, not in the FDWG): "Deny" on the device page is exit 7; signed in, creds is exit 4 (not admitted)', async () => {
    const carol = cliEnv(gate.url);
    const { context, page } = await newPage();
    try {
      const denied = await deviceLogin(carol, page, 'carol', 'Deny');
      expectExit(denied.result, 7);
      expect(denied.result.stderr).toContain('denied in the browser');
      const login = await deviceLogin(carol, page, 'carol');
      expectExit(login.result, 0);
    } finally {
      await context.close();
    }
    const creds = await runCli(['creds'], carol);
    expectExit(creds, 4);
    expect(creds.stderr).toContain('Not admitted');
    const status = await runCli(['status'], carol);
    expectExit(status, 0);
    expect(status.stdout).toContain('Standing:    auditor');
    expect(status.stdout).toContain('Admitted:    no');
    expectExit(await runCli(['requests'], carol), 4);
  }, 60_000);

  test('mallory (outside the FDWG) cannot sign a CLI in: the gate answers "not admitted" and no token is stored', async () => {
    const mallory = cliEnv(gate.url);
    const cli = startCli(['login', '--no-open'], mallory);
    const { context, page } = await newPage();
    try {
      const [, url] = await cli.waitFor(/^\s+(http:\/\/\S+\/cli\/authorize\?\S+)$/m);
      const res = page.waitForResponse((r) => r.url().startsWith(`${gate.url}/cli/authorize`) && r.status() === 403);
      await openSignedIn(page, gate, url!, 'mallory');
      await res;
      expect(await page.getByRole('button', { name: 'Allow' }).count(), await describePage(page)).toBe(0);
    } finally {
      cli.child.kill('SIGINT');
      await cli.done;
      await context.close();
    }
    expectExit(await runCli(['status'], mallory), 3);
  }, 60_000);
});

describe('~/.pgpass escapes as libpq reads them', () => {
  test('a role and a password holding ":" and "\\" connect through the written line (real psql)', async () => {
    const { host, port, database } = gate.config.analystDb;
    const user = `${gate.prefix}esc:a\\b`;
    const password = 'pa:ss\\wo:rd\\';
    const admin = new pg.Client({ connectionString: gate.warehouseAdminUrl });
    await admin.connect();
    const home = mkdtempSync(path.join(os.tmpdir(), 'fdwg-esc-'));
    try {
      await admin.query(`CREATE ROLE ${admin.escapeIdentifier(user)} LOGIN PASSWORD ${admin.escapeLiteral(password)}`);
      await admin.query(`GRANT CONNECT ON DATABASE ${admin.escapeIdentifier(database)} TO ${admin.escapeIdentifier(user)}`);
      const file = path.join(home, 'pgpass');
      writeFileSync(file, upsertPgpass('*:*:*:nobody:x\n', { host, port, database, user }, password).content, { mode: 0o600 });
      const q = await psql(['-c', 'select current_user'], { PATH: '/usr/bin:/bin', HOME: home, PGPASSFILE: file, PGHOST: host, PGPORT: String(port), PGDATABASE: database, PGUSER: user });
      expectExit(q, 0);
      expect(q.stdout.trim()).toBe(user);
    } finally {
      await admin.query(`REVOKE CONNECT ON DATABASE ${admin.escapeIdentifier(database)} FROM ${admin.escapeIdentifier(user)}`).catch(() => {});
      await admin.query(`DROP ROLE IF EXISTS ${admin.escapeIdentifier(user)}`).catch(() => {});
      await admin.end();
    }
  });
});
