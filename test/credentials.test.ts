// The acceptance story of the foundation, end to end over HTTP: real OIDC sign-in, real
// PostgreSQL (scram-sha-256), credentials used with `pg` the way psql would use them.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ApiContract, apiContract } from './support/api-contract.js';
import { expectChainIntact } from './support/audit.js';
import { type TestGate, analystClient, startTestGate } from './support/gate.js';
import { HttpSession, formField, signIn } from './support/http-session.js';
import { pgLogFile, withClient } from './support/pg.js';

let gate: TestGate;
/** JSON answers of the API below are checked against their documented schemas (test/openapi.test.ts). */
let contract: ApiContract;
const issuedPasswords: string[] = [];

beforeAll(async () => {
  gate = await startTestGate();
  contract = apiContract(gate);
});
afterAll(async () => {
  await gate?.close();
});

async function signedIn(username: string) {
  const s = new HttpSession();
  const end = await signIn(s, gate.url, username, `${username}-demo`);
  return { session: s, end };
}

const json = (body: unknown) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

async function issue(s: HttpSession, body: unknown = {}) {
  const res = await s.request(`${gate.url}/api/credentials`, json(body));
  const data = contract.check('POST', '/api/credentials', res.status, (await res.json()) as any);
  if (data.password) issuedPasswords.push(data.password);
  return { res, data };
}

async function expectPgError(p: Promise<unknown>, code: string) {
  await expect(p).rejects.toMatchObject({ code });
}

async function auditRows() {
  return withClient(gate.controlAdminUrl, async (c) => (await c.query(`SELECT * FROM audit_events ORDER BY id`)).rows);
}

describe('an admitted analyst (alice)', () => {
  let alice: HttpSession;

  beforeAll(async () => {
    const { session, end } = await signedIn('alice');
    alice = session;
    expect(end.url.toString()).toBe(`${gate.url}/`);
    expect(end.res.status).toBe(200);
    const html = await end.res.text();
    expect(html).toContain('Signed in as alice');
    expect(html).toContain('Member of the FDWG group');
    expect(html).toContain(`version ${gate.policy.agreement.version} not accepted yet`);
  });

  test('cannot get credentials before accepting the agreement', async () => {
    const { res, data } = await issue(alice);
    expect(res.status).toBe(403);
    expect(data.error.code).toBe('agreement_required');
  });

  test('accepting an old agreement version is refused with the current version named', async () => {
    const res = await alice.request(`${gate.url}/api/agreement`, json({ version: '1999-01' }));
    expect(res.status).toBe(409);
    expect(contract.check('POST', '/api/agreement', 409, (await res.json()) as any).error.details.currentVersion).toBe(gate.policy.agreement.version);
  });

  test('accepts the agreement (once, even when sent twice)', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await alice.request(`${gate.url}/api/agreement`, json({ version: gate.policy.agreement.version }));
      expect(res.status).toBe(200);
      contract.check('POST', '/api/agreement', 200, await res.json());
    }
    const me = contract.check('GET', '/api/me', 200, (await (await alice.request(`${gate.url}/api/me`)).json()) as any);
    expect(me).toMatchObject({ username: 'alice', admitted: true, agreement: { accepted: true } });
    const accepted = (await auditRows()).filter((r) => r.action === 'agreement.accepted' && r.subject === 'alice');
    expect(accepted).toHaveLength(1);
  });

  test('issued password reads the pseudonymized tier and nothing else; every write is refused', async () => {
    const { res, data } = await issue(alice);
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(data.role.startsWith(gate.prefix)).toBe(true);
    expect(data.password.length).toBeGreaterThanOrEqual(43); // 32 random bytes, base64url
    expect(new Date(data.expiresAt).getTime() - Date.now()).toBeGreaterThan(7.9 * 3600 * 1000);
    expect(data.connection.pgpass).toContain(`:${data.role}:${data.password}`);

    const c = analystClient(gate, data.role, data.password);
    await c.connect();
    try {
      const { rows } = await c.query('SELECT count(*)::int AS n FROM pseudonymized.messages');
      expect(rows[0].n).toBeGreaterThan(0);
      await expectPgError(c.query('SELECT * FROM pii.users LIMIT 1'), '42501');
      await expectPgError(c.query('SELECT * FROM datanommer.messages LIMIT 1'), '42501');
      // Read-only by default...
      await expectPgError(c.query(`DELETE FROM pseudonymized.messages`), '25006');
      // ...and by privileges once the analyst switches the default off.
      await c.query('SET default_transaction_read_only = off');
      await expectPgError(c.query(`DELETE FROM pseudonymized.messages`), '42501');
      await expectPgError(c.query(`UPDATE pseudonymized.packages SET name = 'x'`), '42501');
      await expectPgError(c.query(`CREATE TABLE public.mine (x int)`), '42501');
      await expectPgError(c.query(`CREATE TABLE pseudonymized.mine (x int)`), '42501');
      await expectPgError(c.query(`CREATE TEMP TABLE mine (x int)`), '42501');
      // The tier group can be used through membership but never assumed.
      await expectPgError(c.query(`SET ROLE ${gate.roles.pseudonymized}`), '42501');
      const settings = await c.query(`SELECT current_setting('statement_timeout') AS t`);
      expect(settings.rows[0].t).toBe(gate.policy.credentials.statement_timeout);
    } finally {
      await c.end();
    }
  });

  test('a requested TTL above the policy maximum is cut to the maximum', async () => {
    const { res, data } = await issue(alice, { ttlSeconds: gate.policy.credentials.ttl_max + 1000 });
    expect(res.status).toBe(201);
    expect(data).toMatchObject({ capped: true, ttlSeconds: gate.policy.credentials.ttl_max });
  });

  test('bad input is a 400 with a reason', async () => {
    const bad = [
      { ttlSeconds: 'soon' },
      { ttlSeconds: -5 },
      { ttlSeconds: 1.5 },
      { surprise: true },
    ];
    for (const body of bad) {
      const { res, data } = await issue(alice, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(data.error.code).toBe('bad_request');
      expect(data.error.message).toMatch(/Invalid request: /);
    }
    const notJson = await alice.request(`${gate.url}/api/credentials`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{nope',
    });
    expect(notJson.status).toBe(400);
    expect(contract.check('POST', '/api/credentials', 400, (await notJson.json()) as any).error.message).toMatch(/not valid JSON/);
  });

  test('with a 2-second TTL, PostgreSQL itself refuses the password after expiry', async () => {
    const { data } = await issue(alice, { ttlSeconds: 2 });
    const early = analystClient(gate, data.role, data.password);
    await early.connect();
    await early.end();
    await new Promise((r) => setTimeout(r, 2500));
    await expect(analystClient(gate, data.role, data.password).connect()).rejects.toThrow(/password authentication failed/);
  });

  test('at expiry the sweeper disables the role, ends open sessions and records it', async () => {
    const { data } = await issue(alice, { ttlSeconds: 1 });
    const live = analystClient(gate, data.role, data.password);
    live.on('error', () => {});
    await live.connect();
    await new Promise((r) => setTimeout(r, 1200));
    // VALID UNTIL alone would leave this session running.
    await live.query('SELECT 1');
    const swept = await gate.services.sweeper.sweep();
    expect(swept.expired).toBe(1);
    expect(swept.sessionsEnded).toBe(1);
    await expect(live.query('SELECT 1')).rejects.toThrow();
    const event = (await auditRows()).filter((r) => r.action === 'credential.expired').at(-1);
    expect(event).toMatchObject({ actor: 'system:sweeper', subject: 'alice' });
    expect(event.details).toMatchObject({ credentialId: data.id, sessionsEnded: 1 });
    expect(event.details.late).toBeUndefined();
    // Nothing left to do: a second sweep is a no-op.
    expect((await gate.services.sweeper.sweep()).expired).toBe(0);
  });

  test('a lease that expired while no sweeper ran is closed at the next sweep and marked late', async () => {
    const { data } = await issue(alice, { ttlSeconds: 60 });
    const { Sweeper } = await import('../src/credentials/lease-sweeper.js');
    const { controlDb } = await import('../src/db/client.js');
    // The gate "comes back" an hour later.
    const later = new Sweeper(controlDb(gate.controlPool), gate.services.provisioner, 120_000, () => new Date(Date.now() + 3600_000));
    expect((await later.sweep()).expired).toBe(1);
    const event = (await auditRows()).filter((r) => r.action === 'credential.expired').at(-1);
    expect(event.details).toMatchObject({ late: true });
    expect(event.details.lateBySeconds).toBeGreaterThan(3000);
    await expect(analystClient(gate, data.role, data.password).connect()).rejects.toThrow(
      /password authentication failed|not permitted to log in/,
    );
  });

  test('a new password replaces the old one', async () => {
    const first = await issue(alice);
    const second = await issue(alice);
    await expect(analystClient(gate, first.data.role, first.data.password).connect()).rejects.toThrow(
      /password authentication failed/,
    );
    const c = analystClient(gate, second.data.role, second.data.password);
    await c.connect();
    await c.end();
  });

  test('revoke ends the live session and stops new logins', async () => {
    const { data } = await issue(alice);
    const live = analystClient(gate, data.role, data.password);
    live.on('error', () => {});
    await live.connect();
    await live.query('SELECT 1');
    const res = await alice.request(`${gate.url}/api/credentials`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(contract.check('DELETE', '/api/credentials', 200, (await res.json()) as any).sessionsEnded).toBeGreaterThanOrEqual(1);
    await expect(live.query('SELECT 1')).rejects.toThrow();
    await expect(analystClient(gate, data.role, data.password).connect()).rejects.toThrow(/password authentication failed|not permitted to log in/);
    const me = contract.check('GET', '/api/me', 200, (await (await alice.request(`${gate.url}/api/me`)).json()) as any);
    expect(me.credential).toBeNull();
  });

  test('pages: the credential page shows every snippet once, with copy buttons, and is not cached', async () => {
    const home = await alice.request(`${gate.url}/`);
    const csrf = formField(await home.text(), '_csrf')!;
    const { res } = await alice.postForm(`${gate.url}/credentials`, { _csrf: csrf, ttl: '3600' });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    const password = html.match(/<code id="cred-password">([^<]+)<\/code>/)![1]!;
    issuedPasswords.push(password);
    for (const id of ['snip-psql', 'snip-uri', 'snip-pgpass', 'snip-service']) {
      expect(html).toContain(`id="${id}"`);
      expect(html).toContain(`data-copy="${id}"`);
    }
    expect(html).toContain('shown <strong>once</strong>');
  });

  test('forms without the session token, and cross-site posts, are refused', async () => {
    const noToken = await alice.postForm(`${gate.url}/credentials`, { _csrf: 'forged' });
    expect(noToken.res.status).toBe(403);
    const crossSite = await alice.request(`${gate.url}/api/credentials`, {
      ...json({}),
      headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
    });
    expect(crossSite.status).toBe(403);
    expect(contract.check('POST', '/api/credentials', 403, (await crossSite.json()) as any).error.code).toBe('csrf_failed');
  });
});

describe('someone outside the FDWG (mallory)', () => {
  test('gets a clear 403 page, and no role or analyst record is created', async () => {
    const { session, end } = await signedIn('mallory');
    expect(end.res.status).toBe(403);
    const html = await end.res.text();
    expect(html).toContain('Not admitted');
    expect(html).toContain('packager');
    const api = await session.request(`${gate.url}/api/credentials`, json({}));
    expect(api.status).toBe(403);
    expect(contract.check('POST', '/api/credentials', 403, (await api.json()) as any).error.code).toBe('not_admitted');
    const agreement = await session.request(`${gate.url}/api/agreement`, json({ version: gate.policy.agreement.version }));
    expect(agreement.status).toBe(403);

    await withClient(gate.warehouseAdminUrl, async (c) => {
      const { rows } = await c.query(`SELECT rolname FROM pg_roles WHERE rolname LIKE $1`, [`${gate.prefix}%mallory%`]);
      expect(rows).toEqual([]);
    });
    await withClient(gate.controlAdminUrl, async (c) => {
      expect((await c.query(`SELECT 1 FROM analysts WHERE username = 'mallory'`)).rowCount).toBe(0);
    });
    const refused = (await auditRows()).filter((r) => r.action === 'gate.refused' && r.subject === 'mallory');
    expect(refused.length).toBeGreaterThanOrEqual(1);
  });
});

describe('an analyst who left the FDWG', () => {
  test('loses her live credential and sessions at her next sign-in', async () => {
    const { session } = await signedIn('alice');
    const { data } = await issue(session);
    const live = analystClient(gate, data.role, data.password);
    live.on('error', () => {});
    await live.connect();
    gate.issuer.setAccountGroups('alice', ['packager']);
    try {
      const again = await signedIn('alice');
      expect(again.end.res.status).toBe(403);
      await expect(live.query('SELECT 1')).rejects.toThrow();
      await expect(analystClient(gate, data.role, data.password).connect()).rejects.toThrow();
      const event = (await auditRows()).filter((r) => r.action === 'credential.revoked').at(-1);
      expect(event).toMatchObject({ actor: 'system:gate', subject: 'alice' });
      expect(event.details.reason).toBe('no longer an FDWG member');
      // Nothing live is left, so signing in again logs nothing more.
      const count = (await auditRows()).filter((r) => r.action === 'credential.revoked').length;
      await signedIn('alice');
      expect((await auditRows()).filter((r) => r.action === 'credential.revoked').length).toBe(count);
    } finally {
      gate.issuer.setAccountGroups('alice', ['fdwg']);
    }
  });
});

describe('the gate itself', () => {
  test('its warehouse login can create roles but is not a superuser', async () => {
    await withClient(gate.warehouseAdminUrl, async (c) => {
      const { rows } = await c.query(
        `SELECT rolsuper, rolcreaterole, rolbypassrls, rolcreatedb FROM pg_roles WHERE rolname = $1`,
        [gate.roles.gate],
      );
      expect(rows[0]).toEqual({ rolsuper: false, rolcreaterole: true, rolbypassrls: false, rolcreatedb: false });
    });
  });

  test('unauthenticated API calls get a JSON 401 (even on unknown API paths), unknown pages a 404', async () => {
    for (const path of ['/api/me', '/api/nothing-here']) {
      const res = await fetch(`${gate.url}${path}`);
      expect(res.status).toBe(401);
      const body = (await res.json()) as any;
      expect(body.error.code).toBe('unauthenticated');
      if (path === '/api/me') contract.check('GET', path, 401, body);
    }
    const missing = await fetch(`${gate.url}/nothing-here`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('Not found');
  });

  test('/healthz is ready when both databases answer', async () => {
    const res = await fetch(`${gate.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ready', checks: { control: { ok: true }, warehouse: { ok: true } } });
  });

  test('pages carry secure headers', async () => {
    const res = await fetch(`${gate.url}/`);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
  });

  test('every action left an audit event, and the hash chain links them all', async () => {
    const rows = await expectChainIntact(gate.controlAdminUrl);
    const actions = new Set(rows.map((r) => r.action));
    for (const a of ['login', 'gate.refused', 'agreement.accepted', 'credential.issued', 'credential.revoked']) {
      expect(actions, a).toContain(a);
    }
  });

  test('no issued password appears in any gateway or PostgreSQL log line', async () => {
    expect(issuedPasswords.length).toBeGreaterThanOrEqual(7);
    const serverLog = readFileSync(pgLogFile(), 'utf8');
    // The server log really records statements (so the check below means something).
    expect(serverLog).toMatch(/ALTER ROLE .* PASSWORD 'SCRAM-SHA-256\$/);
    const gatewayLog = gate.logs.join('\n');
    expect(gatewayLog).toContain('/api/credentials');
    for (const p of issuedPasswords) {
      expect(serverLog.includes(p)).toBe(false);
      expect(gatewayLog.includes(p)).toBe(false);
    }
  });
});
