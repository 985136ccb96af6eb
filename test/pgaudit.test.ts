// Statement-level audit of PII reads, against Debian's PostgreSQL 15 with pgaudit and scram auth
// (the embedded PG 18 has no pgaudit). The gate's own services set up the analyst and issue the
// password; the analyst reads as psql would; the ingester turns pgaudit's jsonlog into events.
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectChainIntact } from './support/audit.js';
import { parseJsonLogLine, pgauditStatus, pruneStatementText } from '../src/audit/pgaudit.js';
import { type FindRequestInForce, ingestPgauditLogs } from '../src/audit/pgaudit-ingest.js';
import { requestInForceLookup } from '../src/audit/request-in-force.js';
import { PiiRequestService } from '../src/requests/service.js';
import { parseLogTimestamp, splitPgauditCsv } from '../src/audit/pgaudit-log.js';
import type { Identity } from '../src/auth/identity.js';
import { type ControlDb, controlDb, createPool } from '../src/db/client.js';
import { prepareDatabases, urlWith } from '../src/node/databases.js';
import { loadPolicy } from '../src/policy/load.js';
import { Provisioner } from '../src/provisioner/provisioner.js';
import { datasetRole, managedRoles } from '../src/provisioner/roles.js';
import { CredentialService, type IssuedCredential } from '../src/credentials/service.js';
import { GateService } from '../src/admission/service.js';
import { type DebianPostgres, startDebianPostgres } from './support/debian-pg.js';
import { adminUrl, uniqueSuffix, withClient } from './support/pg.js';

const prefix = `pa${uniqueSuffix()}_`;
const roles = managedRoles(prefix);
const policy = loadPolicy(path.resolve('policies'));
const bob: Identity = { sub: 'bob-sub', username: 'bob', email: 'bob@example.org', name: 'Bob', groups: ['fdwg', 'fdwg-approvers'] };
const alice: Identity = { sub: 'alice-sub', username: 'alice', email: 'alice@example.org', name: 'Alice', groups: ['fdwg'] };

const PII_QUERY = 'SELECT * FROM pii.users LIMIT 1';
const PSEUDONYMIZED_QUERY = 'SELECT count(*)::int AS n FROM pseudonymized.messages';
// Commas, quotes and a newline: pgaudit quotes the statement CSV-style in its log line.
const JOIN_QUERY = `SELECT u.username, t.body
  FROM pii.users u JOIN pseudonymized.messages m ON m.agent_pseudonym = u.pseudonym
  JOIN pii.message_text t ON t.msg_id = m.msg_id
 WHERE t.kind <> 'x,"y"' LIMIT 3`;

let cluster: DebianPostgres;
let controlPool: pg.Pool;
let warehousePool: pg.Pool;
let db: ControlDb;
let credentials: CredentialService;
let issued: IssuedCredential;
let warehouseAdminUrl: string;
let controlAdminUrl: string;

beforeAll(async () => {
  cluster = await startDebianPostgres({ pgaudit: true });
  const gatePassword = `gate-${uniqueSuffix()}-${uniqueSuffix()}`;
  const urls = await prepareDatabases({
    superuserUrl: cluster.superuserUrl,
    controlDatabase: 'control',
    warehouseDatabase: 'warehouse',
    prefix,
    gatePassword,
    policy,
    demo: { messages: 300, seed: 7, pseudonymKey: `key-${uniqueSuffix()}` },
  });
  warehouseAdminUrl = urlWith(cluster.superuserUrl, 'warehouse');
  controlAdminUrl = urlWith(cluster.superuserUrl, 'control');
  // From here on, as the gate: its own logins, never the superuser.
  controlPool = createPool(urls.controlUrl);
  warehousePool = createPool(urls.warehouseUrl);
  db = controlDb(controlPool);
  const gate = new GateService(db, policy, prefix);
  credentials = new CredentialService(db, gate, new Provisioner(warehousePool, prefix, policy.credentials), policy.credentials);
  await gate.recordLogin(alice);
  await gate.acceptAgreement(alice, policy.agreement.version);
  issued = await credentials.issue(alice);
});

afterAll(async () => {
  await Promise.allSettled([controlPool?.end(), warehousePool?.end()]);
  await cluster?.stop();
});

const asAnalyst = async <T>(fn: (c: pg.Client) => Promise<T>) =>
  withClient(urlWith(cluster.superuserUrl, 'warehouse', issued.roleName, issued.password), fn);

/** The collector writes asynchronously: wait until the log holds `n` object-audit lines. */
async function auditLinesInLog(n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = readdirSync(cluster.logDir)
      .filter((f) => f.endsWith('.json'))
      .flatMap((f) => readFileSync(path.join(cluster.logDir, f), 'utf8').split('\n'))
      .filter((l) => parseJsonLogLine(l) !== null);
    if (lines.length >= n) return;
    if (Date.now() > deadline) throw new Error(`expected ${n} pgaudit lines in the log, found ${lines.length}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Ingests as if the log had been quiet for a minute, so nothing is held back as still being written. */
const ingest = (findRequestInForce?: FindRequestInForce) =>
  ingestPgauditLogs(db, {
    logDir: cluster.logDir,
    rolePrefix: prefix,
    now: () => new Date(Date.now() + 60_000),
    ...(findRequestInForce ? { findRequestInForce } : {}),
  });

async function piiReads() {
  return withClient(controlAdminUrl, async (c) => {
    const { rows } = await c.query(
      `SELECT e.*, s.statement, s.statement_sha256, s.pruned_at
         FROM audit_events e LEFT JOIN pii_read_statements s ON s.event_id = e.id
        WHERE e.action = 'pii.read' ORDER BY e.id`,
    );
    return rows;
  });
}

const sha256 = async (s: string) =>
  [...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)))].map((b) => b.toString(16).padStart(2, '0')).join('');

describe('the foundation on PostgreSQL 15 (scram)', () => {
  test('the cluster really is Debian PostgreSQL 15 with pgaudit preloaded', async () => {
    await withClient(warehouseAdminUrl, async (c) => {
      const { rows } = await c.query(
        `SELECT current_setting('server_version_num')::int AS v, current_setting('shared_preload_libraries') AS preload,
                (SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = $1) AS scram`,
        [issued.roleName],
      );
      expect(rows[0].v).toBeGreaterThanOrEqual(150000);
      expect(rows[0].v).toBeLessThan(160000);
      expect(rows[0].preload).toBe('pgaudit');
      expect(rows[0].scram).toBe(true);
    });
  });

  test('the issued password logs in; pseudonymized reads work; PII is denied before any grant', async () => {
    await asAnalyst(async (c) => {
      const { rows } = await c.query(PSEUDONYMIZED_QUERY);
      expect(rows[0].n).toBeGreaterThan(0);
      await expect(c.query(PII_QUERY)).rejects.toMatchObject({ code: '42501' });
      await expect(c.query('DELETE FROM pseudonymized.messages')).rejects.toMatchObject({ code: '25006' });
    });
  });

  test('the audit role is NOLOGIN, granted to nobody, and holds SELECT on exactly the PII tables', async () => {
    await withClient(warehouseAdminUrl, async (c) => {
      const role = await c.query(`SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, [roles.piiAudit]);
      expect(role.rows).toEqual([{ rolcanlogin: false }]);
      const members = await c.query(`SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname = $1`, [roles.piiAudit]);
      expect(members.rowCount).toBe(0);
      const { rows } = await c.query(
        `SELECT format('%s.%s', table_schema, table_name) AS t FROM information_schema.role_table_grants
          WHERE grantee = $1 AND privilege_type = 'SELECT' ORDER BY 1`,
        [roles.piiAudit],
      );
      expect(rows.map((r) => r.t)).toEqual(['pii.message_text', 'pii.users']);
    });
  });
});

describe('PII reads recorded from pgaudit', () => {
  beforeAll(async () => {
    // A DBA grants the dataset roles by hand, outside the request flow: reads happen, and each is
    // an alert, since no approved request stands behind them.
    await withClient(warehouseAdminUrl, (c) => c.query(`GRANT ${datasetRole(prefix, 'maintainer_identities')}, ${datasetRole(prefix, 'message_text')} TO ${issued.roleName}`));
    await asAnalyst(async (c) => {
      expect((await c.query(PII_QUERY)).rowCount).toBe(1);
      expect((await c.query(PSEUDONYMIZED_QUERY)).rows[0].n).toBeGreaterThan(0);
      await c.query(JOIN_QUERY);
    });
    await auditLinesInLog(3); // one for the PII query, two (one per table) for the join
  });

  test('one event per statement: the PII query, and the join listing both tables; none for pseudonymized', async () => {
    expect(await ingest()).toEqual({ read: 3, events: 2, alerts: 2 });
    const rows = await piiReads();
    expect(rows).toHaveLength(2);
    const [single, join] = rows;
    expect(single).toMatchObject({ actor: 'alice', subject: 'alice', request_id: null, dataset: null, statement: PII_QUERY });
    expect(single.details).toMatchObject({
      role: issued.roleName,
      database: 'warehouse',
      objects: ['pii.users'],
      command: 'SELECT',
      alert: true,
      reason: 'no approved PII request covering these tables was in force for this analyst at that moment',
    });
    expect(single.details.purpose).toBeUndefined();
    expect(Date.parse(single.details.loggedAt)).toBeGreaterThan(Date.now() - 120_000);
    // The chained row holds only the statement's hash; the text lives apart (prunable).
    expect(single.details.statementSha256).toBe(await sha256(PII_QUERY));
    expect(single.statement_sha256).toBe(single.details.statementSha256);
    expect(JSON.stringify(single.details)).not.toContain('LIMIT');

    expect(join.statement).toBe(JOIN_QUERY);
    expect([...join.details.objects].sort()).toEqual(['pii.message_text', 'pii.users']);
    expect(join.details.sessionId).toBe(single.details.sessionId);
    expect(join.details.statementId).not.toBe(single.details.statementId);
    expect(rows.map((r) => r.statement)).not.toContain(PSEUDONYMIZED_QUERY);
  });

  test('ingesting again adds nothing', async () => {
    const before = (await piiReads()).length;
    expect(await ingest()).toEqual({ read: 0, events: 0, alerts: 0 });
    expect(await piiReads()).toHaveLength(before);
  });

  test('after a real approval the read is linked to the request and its purpose; pseudonymized reads stay unrecorded', async () => {
    const gateService = new GateService(db, policy, prefix);
    const requests = new PiiRequestService(db, gateService, new Provisioner(warehousePool, prefix, policy.credentials), policy, prefix);
    const purpose = 'Join Bodhi karma to the maintainer roster for the packaging health report.';
    const created = await requests.create(alice, { datasets: ['maintainer_identities'], purpose, durationSeconds: 3600 });
    const decided = await requests.review(bob, created.id, 'approve', 'Roster join only, please.');
    expect(decided).toMatchObject({ final: true });

    const sql = `SELECT email FROM pii.users WHERE username = 'nobody'`;
    await asAnalyst(async (c) => {
      await c.query(sql);
      await c.query(PSEUDONYMIZED_QUERY);
      // message_text is not in the approved dataset: still readable through the DBA's hand grant,
      // and recorded as an alert although a request for another dataset is in force.
      await c.query('SELECT count(*) FROM pii.message_text');
    });
    await auditLinesInLog(5);
    const linked = requestInForceLookup(db, policy.pii_datasets);
    expect(await ingest(linked)).toEqual({ read: 2, events: 2, alerts: 1 });
    const [read, outside] = (await piiReads()).slice(-2);
    expect(read).toMatchObject({ subject: 'alice', request_id: created.id, dataset: 'maintainer_identities', statement: sql });
    expect(read.details).toMatchObject({ alert: false, purpose, objects: ['pii.users'] });
    expect(read.details.reason).toBeUndefined();
    expect(outside).toMatchObject({ subject: 'alice', request_id: null, dataset: null });
    expect(outside.details).toMatchObject({ alert: true, objects: ['pii.message_text'] });
    expect((await piiReads()).map((r) => r.statement)).not.toContain(PSEUDONYMIZED_QUERY);
    // An auditor can follow the read to the approval: the request's events carry the same id.
    const trail = await withClient(controlAdminUrl, async (c) =>
      (await c.query(`SELECT action, actor FROM audit_events WHERE request_id = $1 ORDER BY id`, [created.id])).rows,
    );
    expect(trail).toEqual([
      { action: 'request.created', actor: 'alice' },
      { action: 'request.approved', actor: 'bob' },
      { action: 'pii.granted', actor: 'bob' },
      { action: 'pii.read', actor: 'alice' },
    ]);
  });

  test('reads by roles the gate does not know are recorded as alerts with the reason', async () => {
    const ghost = `${prefix}ghost`;
    await withClient(warehouseAdminUrl, async (c) => {
      for (const r of ['dba_dave', ghost]) {
        await c.query(`CREATE ROLE ${r} LOGIN PASSWORD 'dave-demo-pw'`);
        await c.query(`GRANT CONNECT ON DATABASE warehouse TO ${r}`);
        await c.query(`GRANT ${datasetRole(prefix, 'maintainer_identities')} TO ${r}`);
      }
    });
    for (const r of ['dba_dave', ghost]) {
      await withClient(urlWith(cluster.superuserUrl, 'warehouse', r, 'dave-demo-pw'), (c) => c.query(PII_QUERY));
    }
    await auditLinesInLog(6);
    expect(await ingest(async () => ({ requestId: 1, purpose: 'never asked', dataset: 'x' }))).toEqual({ read: 2, events: 2, alerts: 2 });
    const [dave, gh] = (await piiReads()).slice(-2);
    expect(dave).toMatchObject({ actor: 'system:pgaudit', subject: null, request_id: null });
    expect(dave.details).toMatchObject({ role: 'dba_dave', alert: true, reason: 'the login role "dba_dave" is not managed by the gate' });
    expect(gh.details).toMatchObject({ role: ghost, alert: true, reason: `no analyst of the gate has the login role "${ghost}"` });
  });

  test('retention blanks old statement text, keeps the hash, deletes nothing; the chain still verifies', async () => {
    const before = await piiReads();
    expect(await pruneStatementText(db, new Date(Date.now() - 86_400_000))).toBe(0);
    expect(await pruneStatementText(db, new Date(Date.now() + 1_000))).toBe(before.length);
    const prunedEvents = await withClient(controlAdminUrl, async (c) =>
      (await c.query(`SELECT actor, details FROM audit_events WHERE action = 'pii.statements.pruned'`)).rows,
    );
    expect(prunedEvents).toEqual([{ actor: 'system:retention', details: expect.objectContaining({ count: before.length }) }]);
    const after = await piiReads();
    expect(after).toHaveLength(before.length);
    for (const [i, r] of after.entries()) {
      expect(r.statement).toBeNull();
      expect(r.pruned_at).not.toBeNull();
      expect(r.statement_sha256).toBe(before[i].statement_sha256);
      expect(r.details.statementSha256).toBe(await sha256(before[i].statement));
    }
    expect(await pruneStatementText(db, new Date(Date.now() + 1_000))).toBe(0);

    await expectChainIntact(controlAdminUrl);
  });
});

describe('pgauditStatus', () => {
  test('available on the Debian cluster, through the gate login (no superuser settings needed)', async () => {
    const s = await pgauditStatus(warehousePool, roles.piiAudit, { piiSchemas: policy.tiers.pii.schemas });
    expect(s).toMatchObject({ available: true, role: roles.piiAudit, uncovered: [] });
    expect(s.detail).toMatch(/^pgaudit is active/);
  });

  test('a PII table the audit role cannot read is named: its reads would not be recorded', async () => {
    await withClient(warehouseAdminUrl, async (c) => {
      await c.query('CREATE TABLE pii.extra (x int)');
      await c.query(`REVOKE SELECT ON pii.extra FROM ${roles.piiAudit}`);
    });
    try {
      const s = await pgauditStatus(warehousePool, roles.piiAudit, { piiSchemas: policy.tiers.pii.schemas });
      expect(s.available).toBe(true);
      expect(s.uncovered).toEqual(['pii.extra']);
      expect(s.detail).toContain('lacks SELECT on pii.extra');
    } finally {
      await withClient(warehouseAdminUrl, (c) => c.query('DROP TABLE pii.extra'));
    }
  });

  test('another audit role in force is not "available"', async () => {
    const s = await pgauditStatus(warehousePool, 'somebody_else');
    expect(s.available).toBe(false);
    expect(s.detail).toContain(`pgaudit.role on the warehouse database is "${roles.piiAudit}"`);
  });

  test('not available on the embedded PostgreSQL 18 cluster, even with a pgaudit.role placeholder set', async () => {
    const pool = new pg.Pool({ connectionString: adminUrl(), max: 1 });
    try {
      await pool.query(`SET pgaudit.role = '${roles.piiAudit}'`); // a placeholder: no pgaudit behind it
      const s = await pgauditStatus(pool, roles.piiAudit);
      expect(s).toMatchObject({ available: false, role: null });
      expect(s.detail).toMatch(/^pgaudit is not loaded on the warehouse server .*NOT recorded/);
    } finally {
      await pool.end();
    }
  });
});

describe('the jsonlog ingester holds back a statement until all its lines are written', () => {
  const line = (o: { ts: string; session: string; stmt: number; table: string; sql: string; user?: string }) =>
    `${JSON.stringify({
      timestamp: o.ts,
      user: o.user ?? issued.roleName,
      dbname: 'warehouse',
      session_id: o.session,
      error_severity: 'LOG',
      message: `AUDIT: OBJECT,${o.stmt},1,READ,SELECT,TABLE,${o.table},"${o.sql.replace(/"/g, '""')}",<not logged>`,
    })}\n`;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.resolve('tmp/pgaudit-synthetic-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a join whose second line arrives late is still one event; nothing is duplicated', async () => {
    const file = path.join(dir, `synthetic-${uniqueSuffix()}.json`);
    const sqlA = 'SELECT 1 FROM pii.users, pii.message_text';
    const run = (now: number) => ingestPgauditLogs(db, { logDir: dir, rolePrefix: prefix, now: () => new Date(now) });
    writeFileSync(file, line({ ts: '2026-11-23 10:00:00.000 UTC', session: 's1', stmt: 1, table: 'pii.users', sql: sqlA }));
    // Just written, nothing after it: it may have more lines coming.
    expect(await run(Date.now())).toEqual({ read: 0, events: 0, alerts: 0 });
    appendFileSync(file, line({ ts: '2026-11-23 10:00:00.001 UTC', session: 's1', stmt: 1, table: 'pii.message_text', sql: sqlA }));
    appendFileSync(file, line({ ts: '2026-11-23 10:00:01.000 UTC', session: 's2', stmt: 1, table: 'pii.users', sql: 'SELECT 2 FROM pii.users' }));
    expect(await run(Date.now())).toEqual({ read: 0, events: 0, alerts: 0 });
    // The same session moved on to its next statement: the first one is complete.
    appendFileSync(file, line({ ts: '2026-11-23 10:00:02.000 UTC', session: 's1', stmt: 2, table: 'pii.users', sql: 'SELECT 3 FROM pii.users' }));
    expect(await run(Date.now())).toEqual({ read: 2, events: 1, alerts: 1 });
    // Quiet for a minute: everything left is complete.
    expect(await run(Date.now() + 60_000)).toEqual({ read: 2, events: 2, alerts: 2 });
    expect(await run(Date.now() + 60_000)).toEqual({ read: 0, events: 0, alerts: 0 });
    const rows = (await piiReads()).slice(-3);
    expect(rows.map((r) => [r.details.sessionId, r.details.statementId, r.details.objects, r.statement])).toEqual([
      ['s1', 1, ['pii.users', 'pii.message_text'], sqlA],
      ['s2', 1, ['pii.users'], 'SELECT 2 FROM pii.users'],
      ['s1', 2, ['pii.users'], 'SELECT 3 FROM pii.users'],
    ]);
    expect(rows[0].details.loggedAt).toBe('2026-11-23T10:00:00.000Z');
  });

  test('two gate instances ingesting the same file at once record each statement once', async () => {
    const file = path.join(dir, `concurrent-${uniqueSuffix()}.json`);
    const n = 50;
    writeFileSync(
      file,
      Array.from({ length: n }, (_, i) =>
        line({ ts: `2026-11-23 12:00:${String(i).padStart(2, '0')}.000 UTC`, session: 'sc', stmt: i + 1, table: 'pii.users', sql: `SELECT ${i} FROM pii.users` }),
      ).join(''),
    );
    const before = (await piiReads()).length;
    // The lookup runs before the transaction: holding every run there until all three arrived
    // makes them all plan the same lines from the same cursor before any of them commits.
    let asked = 0;
    let release!: () => void;
    const allArrived = new Promise<void>((resolve) => (release = resolve));
    const barrier: FindRequestInForce = async () => {
      if (++asked === 3) release();
      await Promise.race([allArrived, new Promise((r) => setTimeout(r, 5_000))]);
      return null;
    };
    const run = () =>
      ingestPgauditLogs(db, { logDir: dir, rolePrefix: prefix, now: () => new Date(Date.now() + 60_000), findRequestInForce: barrier });
    const results = await Promise.all([run(), run(), run()]);
    expect(asked).toBe(3 * n); // all three really planned all n statements
    expect(results.reduce((sum, r) => sum + r.events, 0)).toBe(n);
    const added = (await piiReads()).slice(before);
    expect(added.map((r) => r.details.statementId)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  test('a half-written last line holds back what precedes it until it is complete', async () => {
    const file = path.join(dir, `partial-${uniqueSuffix()}.json`);
    const full = line({ ts: '2026-11-23 11:00:00.000 UTC', session: 's9', stmt: 1, table: 'pii.users', sql: 'SELECT 9 FROM pii.users' });
    const second = line({ ts: '2026-11-23 11:00:05.000 UTC', session: 's9', stmt: 2, table: 'pii.users', sql: 'SELECT 10 FROM pii.users' });
    writeFileSync(file, full + second.slice(0, 40));
    const run = () => ingestPgauditLogs(db, { logDir: dir, rolePrefix: prefix, now: () => new Date(Date.now() + 60_000) });
    // Someone is still writing: the complete line before it may be joined by more of its statement.
    expect(await run()).toEqual({ read: 0, events: 0, alerts: 0 });
    appendFileSync(file, second.slice(40));
    expect(await run()).toEqual({ read: 2, events: 2, alerts: 2 });
  });
});

describe('parsing pgaudit lines', () => {
  test('a real PostgreSQL 15 jsonlog line with a quoted, multi-line statement', () => {
    const l = String.raw`{"timestamp":"2026-11-23 19:26:19.066 UTC","user":"x_t","dbname":"wh","pid":1898,"session_id":"6b04935b.76a","line_num":2,"error_severity":"LOG","message":"AUDIT: OBJECT,2,1,READ,SELECT,TABLE,pii.users,\"SELECT u.username, 'a,\"\"b\"\"' , E'x\ny' FROM pii.users u\",<not logged>","backend_type":"client backend","query_id":0}`;
    expect(parseJsonLogLine(l)).toEqual({
      at: new Date('2026-11-23T19:26:19.066Z'),
      loggedAt: '2026-11-23 19:26:19.066 UTC',
      user: 'x_t',
      database: 'wh',
      sessionId: '6b04935b.76a',
      statementId: 2,
      substatementId: 1,
      auditClass: 'READ',
      command: 'SELECT',
      objectType: 'TABLE',
      objectName: 'pii.users',
      statement: `SELECT u.username, 'a,"b"' , E'x\ny' FROM pii.users u`,
    });
  });

  test('other lines, session audit and malformed messages are not PII reads', () => {
    expect(parseJsonLogLine('{"timestamp":"x","message":"connection authorized: user=a"}')).toBeNull();
    expect(parseJsonLogLine('{"message":"AUDIT: SESSION,1,1,READ,SELECT,TABLE,pii.users,SELECT 1,<none>"}')).toBeNull();
    expect(parseJsonLogLine('{"message":"AUDIT: OBJECT,1,1,READ,SELECT,TABLE,pii.users,\\"unterminated"}')).toBeNull();
    expect(parseJsonLogLine('not json "AUDIT: OBJECT,')).toBeNull();
    expect(splitPgauditCsv('a,"b,""c""",d')).toEqual(['a', 'b,"c"', 'd']);
    expect(splitPgauditCsv('a,,')).toEqual(['a', '', '']);
  });

  test('log timestamps: UTC and numeric offsets are read, ambiguous zone names are not guessed', () => {
    expect(parseLogTimestamp('2026-11-23 19:26:19.066 UTC')?.toISOString()).toBe('2026-11-23T19:26:19.066Z');
    expect(parseLogTimestamp('2026-11-23 21:26:19.066 +02')?.toISOString()).toBe('2026-11-23T19:26:19.066Z');
    expect(parseLogTimestamp('2026-11-23 14:56:19.066 -0430')?.toISOString()).toBe('2026-11-23T19:26:19.066Z');
    expect(parseLogTimestamp('2026-11-23 20:26:19.066 CET')).toBeNull();
  });
});

// PostgreSQL 15 has no GRANT ... WITH SET FALSE, so an analyst can SET ROLE into a tier granted to
// them. pgaudit skips statements whose session user is not a member of the current role (that
// keeps security-definer internals out of the log), so after a REVOKE such a session goes on
// reading PII *unaudited*. On PG15, ending PII access must therefore also end the sessions.
describe('PostgreSQL 15: revoking the PII tier must end the analyst sessions', () => {
  test('a SET ROLE session keeps reading after REVOKE, unlogged by pgaudit, until it is terminated', async () => {
    const logged = (marker: string) =>
      readdirSync(cluster.logDir)
        .flatMap((f) => readFileSync(path.join(cluster.logDir, f), 'utf8').split('\n'))
        .map(parseJsonLogLine)
        .filter((r) => r?.statement.includes(marker));
    const c = new pg.Client({ connectionString: urlWith(cluster.superuserUrl, 'warehouse', issued.roleName, issued.password) });
    c.on('error', () => {}); // the termination below
    await c.connect();
    try {
      await withClient(warehouseAdminUrl, (s) => s.query(`GRANT ${datasetRole(prefix, 'maintainer_identities')} TO ${issued.roleName}`));
      await c.query(`SET ROLE ${datasetRole(prefix, 'maintainer_identities')}`);
      await c.query(`SELECT 'marker-before-revoke' FROM pii.users LIMIT 1`);
      await withClient(warehouseAdminUrl, (s) => s.query(`REVOKE ${datasetRole(prefix, 'maintainer_identities')} FROM ${issued.roleName}`));
      expect((await c.query(`SELECT 'marker-after-revoke' FROM pii.users LIMIT 1`)).rowCount).toBe(1);
      // A later logged read, so that the log has certainly caught up with the one before it.
      await withClient(warehouseAdminUrl, (s) => s.query(`SELECT 'marker-sentinel' FROM pii.users LIMIT 1`));
      const deadline = Date.now() + 10_000;
      while (logged('marker-sentinel').length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      // Logged while a member, and attributed to the login role, not to the tier it SET ROLE to.
      expect(logged('marker-before-revoke').map((r) => r?.user)).toEqual([issued.roleName]);
      expect(logged('marker-after-revoke')).toEqual([]);

      expect(await new Provisioner(warehousePool, prefix, policy.credentials).terminateSessions(issued.roleName)).toBeGreaterThanOrEqual(1);
      await expect(c.query(`SELECT 1 FROM pii.users LIMIT 1`)).rejects.toThrow();
    } finally {
      await c.end().catch(() => {});
    }
  });

  test("the gate's revoke works on PostgreSQL 15: the password no longer logs in", async () => {
    await credentials.revoke(alice);
    await expect(asAnalyst((c) => c.query('SELECT 1'))).rejects.toMatchObject({ code: expect.stringMatching(/^28/) });
  });
});
