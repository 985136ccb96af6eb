// Alert rules of the policy (issue 15): each rule on its case and on a near miss (pure), then at
// ingestion on a real control database: pgaudit-shaped jsonlog lines in, one 'alert.raised' event
// per hit linked to its pii.read event and request, and each one delivered to a real webhook
// receiver, signed, without the statement text.
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { alertEvaluator } from '../src/alerts/evaluate.js';
import { evaluateRules, sqlSkeleton } from '../src/alerts/rules.js';
import { ingestPgauditLogs } from '../src/audit/pgaudit-ingest.js';
import { requestInForceLookup } from '../src/audit/request-in-force.js';
import { controlDb, createPool } from '../src/db/client.js';
import { runMigrations } from '../src/db/migrate.js';
import { WebhookDispatcher } from '../src/notify/dispatcher.js';
import { PolicyError, parsePolicy } from '../src/policy/parse.js';
import { loadPolicy } from '../src/policy/load.js';
import type { AlertRule } from '../src/policy/schema.js';
import { createDatabase, urlFor } from './support/pg.js';

const policy = loadPolicy(path.resolve('policies'));
const rules: AlertRule[] = [
  { name: 'bulk', kind: 'statements_per_hour', max: 4 },
  { name: 'whole', kind: 'no_where_clause' },
  { name: 'copy', kind: 'copy_out' },
  { name: 'late', kind: 'grant_ending', within: 600 },
];
const at = (hhmm: string) => new Date(`2026-11-23T${hhmm}:00.000Z`);
const facts = (statement: string, command = 'SELECT') => ({ at: at('10:00'), objects: ['pii.users'], command, statement });
const none = { readsInHour: 1, grantEndsAt: null };
const fired = (statement: string, ctx: Parameters<typeof evaluateRules>[2] = none, command?: string) =>
  evaluateRules(rules, { ...facts(statement, command) }, ctx).map((h) => h.rule);

describe('each rule fires on its case and not on a near miss', () => {
  test('statements per hour: the statement that crosses the maximum, once', () => {
    const q = "SELECT 1 FROM pii.users WHERE username = 'a'";
    expect(fired(q, { readsInHour: 4, grantEndsAt: null })).toEqual([]);
    expect(fired(q, { readsInHour: 5, grantEndsAt: null })).toEqual(['bulk']);
    expect(fired(q, { readsInHour: 6, grantEndsAt: null })).toEqual([]);
  });

  test('no WHERE clause: a WHERE in a literal, a comment or a quoted name does not count', () => {
    expect(fired('SELECT * FROM pii.users LIMIT 5')).toEqual(['whole']);
    expect(fired("SELECT * FROM pii.users u JOIN pii.message_text t ON t.author_email = u.email")).toEqual(['whole']);
    expect(fired("SELECT 'where' FROM pii.users -- where\n/* WHERE */")).toEqual(['whole']);
    expect(fired('SELECT "where" FROM pii.users')).toEqual(['whole']);
    expect(fired("SELECT email FROM pii.users WHERE username = 'x'")).toEqual([]);
    expect(fired('select email from pii.users\nwhere true')).toEqual([]);
    // Nothing to judge without the text.
    expect(fired('')).toEqual([]);
    expect(sqlSkeleton("a 'it''s where' $q$ where $q$ b")).not.toMatch(/where/);
  });

  test('COPY out of a PII table (as pgaudit logs it, or by its text); a SELECT is not', () => {
    expect(fired('COPY pii.users TO STDOUT', none, 'COPY')).toEqual(['copy']);
    expect(fired("copy (select * from pii.users where true) to stdout with csv", none, 'SELECT')).toEqual(['copy']);
    expect(fired("SELECT email FROM pii.users WHERE username = 'copy to'")).toEqual([]);
  });

  test('reads in the last minutes of a grant', () => {
    const q = "SELECT 1 FROM pii.users WHERE username = 'a'";
    expect(fired(q, { readsInHour: 1, grantEndsAt: at('10:10') })).toEqual(['late']);
    expect(fired(q, { readsInHour: 1, grantEndsAt: at('10:11') })).toEqual([]);
    expect(fired(q, { readsInHour: 1, grantEndsAt: null })).toEqual([]);
  });

  test('policy:check refuses a bad alerts section and names the field', () => {
    const text = readFileSync(path.resolve('policies/policy.yaml'), 'utf8');
    const agreement = (f: string) => readFileSync(path.resolve('policies', f), 'utf8');
    expect(parsePolicy('policy.yaml', text, agreement).alerts.map((a) => a.kind)).toEqual(['statements_per_hour', 'no_where_clause', 'copy_out', 'grant_ending']);
    const bad = (alerts: string) => () => parsePolicy('policy.yaml', text.replace(/\nalerts:[\s\S]*$/, `\nalerts:\n${alerts}\n`), agreement);
    expect(bad('  - name: x\n    kind: sometimes')).toThrow(PolicyError);
    expect(bad('  - name: x\n    kind: statements_per_hour')).toThrow(/max/);
    expect(bad('  - name: x\n    kind: copy_out\n  - name: x\n    kind: no_where_clause')).toThrow(/declared twice/);
    expect(bad('  - name: x\n    kind: grant_ending\n    within: soon')).toThrow(/within/);
  });
});

// --- At ingestion ----------------------------------------------------------------------------------

class Receiver {
  received: { headers: http.IncomingHttpHeaders; raw: string }[] = [];
  url = '';
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.received.push({ headers: req.headers, raw: Buffer.concat(chunks).toString('utf8') });
      res.end('ok');
    });
  });
  async start() {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }
  async close() {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const SECRET = 'whsec-alerts-0123456789abcdef0123456789abcdef';
let pool: pg.Pool;
let dir: string;
const receiver = new Receiver();

const line = (o: { ts: string; user: string; stmt: number; sql: string; command?: string }) =>
  `${JSON.stringify({
    timestamp: `2026-11-23 ${o.ts}:00.000 UTC`,
    user: o.user,
    dbname: 'warehouse',
    session_id: `s-${o.user}`,
    error_severity: 'LOG',
    message: `AUDIT: OBJECT,${o.stmt},1,READ,${o.command ?? 'SELECT'},TABLE,pii.users,"${o.sql.replace(/"/g, '""')}",<not logged>`,
  })}\n`;

const WITH_WHERE = (n: number) => `SELECT email FROM pii.users WHERE username = 'person${n}'`;

beforeAll(async () => {
  pool = createPool(urlFor(await createDatabase('alerts')));
  await runMigrations(pool);
  await pool.query(`INSERT INTO analysts (id, username, subject, role_name) VALUES (1, 'alice', 's1', 'fdwg_alice'), (2, 'bob', 's2', 'fdwg_bob'), (3, 'erin', 's3', 'fdwg_erin')`);
  await pool.query(
    `INSERT INTO pii_requests (id, analyst_id, datasets, purpose, duration_seconds, state, review_deadline, approvals_required)
     VALUES (10, 1, '{maintainer_identities}', 'Join karma to the maintainer roster', 5400, 'approved', now(), 1)`,
  );
  await pool.query(
    `INSERT INTO pii_grants (request_id, analyst_id, role_name, dataset, group_role, starts_at, expires_at)
     VALUES (10, 1, 'fdwg_alice', 'maintainer_identities', 'fdwg_pii_maintainer_identities', $1, $2)`,
    [at('09:00'), at('10:30')],
  );
  dir = mkdtempSync(path.resolve('tmp/alerts-'));
  await receiver.start();
});

afterAll(async () => {
  await receiver.close();
  await pool?.end();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('alerts at ingestion', () => {
  test('one alert.raised per hit, linked to its statement and request; none on the near misses; each reaches the webhook', async () => {
    const lines = [
      // alice, under her grant until 10:30: four statements in the hour (the maximum, no "bulk").
      line({ ts: '10:00', user: 'fdwg_alice', stmt: 1, sql: WITH_WHERE(1) }),
      line({ ts: '10:01', user: 'fdwg_alice', stmt: 2, sql: 'SELECT * FROM pii.users -- where' }),
      line({ ts: '10:02', user: 'fdwg_alice', stmt: 3, sql: 'COPY (SELECT * FROM pii.users WHERE true) TO STDOUT', command: 'COPY' }),
      line({ ts: '10:25', user: 'fdwg_alice', stmt: 4, sql: WITH_WHERE(4) }),
      // erin: four within the hour (near miss); bob: five (the fifth crosses).
      ...[0, 10, 20, 30].map((m, i) => line({ ts: `11:${String(m).padStart(2, '0')}`, user: 'fdwg_erin', stmt: i + 1, sql: WITH_WHERE(i) })),
      ...[0, 1, 2, 3, 4].map((m, i) => line({ ts: `12:0${m}`, user: 'fdwg_bob', stmt: i + 1, sql: WITH_WHERE(i) })),
    ];
    writeFileSync(path.join(dir, 'postgresql.json'), lines.join(''));
    const db = controlDb(pool);
    const result = await ingestPgauditLogs(db, {
      logDir: dir,
      rolePrefix: 'fdwg_',
      now: () => new Date(Date.now() + 60_000),
      findRequestInForce: requestInForceLookup(db, policy.pii_datasets),
      alerts: alertEvaluator(db, rules),
    });
    expect(result).toEqual({ read: 13, events: 13, alerts: 9, raised: 4 });

    const { rows } = await pool.query(
      `SELECT a.id, a.actor, a.subject, a.request_id, a.dataset, a.details, r.details ->> 'statementId' AS stmt, s.statement
         FROM audit_events a JOIN audit_events r ON r.id = (a.details ->> 'readEventId')::bigint
         JOIN pii_read_statements s ON s.event_id = r.id
        WHERE a.action = 'alert.raised' ORDER BY a.id`,
    );
    expect(rows.map((r) => [r.subject, r.details.rule, r.stmt, r.request_id])).toEqual([
      ['alice', 'whole', '2', 10],
      ['alice', 'copy', '3', 10],
      ['alice', 'late', '4', 10],
      ['bob', 'bulk', '5', null],
    ]);
    for (const r of rows) {
      expect(r.actor).toBe('system:alerts');
      expect(r.details).toMatchObject({ objects: ['pii.users'], kind: expect.any(String), reason: expect.any(String) });
      expect(JSON.stringify(r.details)).not.toContain('username =');
    }
    expect(rows[0].dataset).toBe('maintainer_identities');
    expect(rows[0].details.statementSha256).toHaveLength(64);

    const delivered = await new WebhookDispatcher(db, { url: receiver.url, secret: SECRET, maxAttempts: 3 }).deliverDue();
    expect(delivered).toMatchObject({ delivered: 4 });
    // Delivery keeps order per request only: compare in the order the alerts were raised.
    const bodies = receiver.received.map((r) => JSON.parse(r.raw)).sort((a, b) => a.details.alertEventId - b.details.alertEventId);
    expect(bodies.map((b) => [b.event, b.analyst, b.details.rule, b.details.alertEventId, b.requestId])).toEqual(
      rows.map((r) => ['alert.raised', r.subject, r.details.rule, Number(r.id), r.request_id ?? 0]),
    );
    expect(bodies[3].text).toMatch(/^\[FDWG\] Alert bulk: bob: more than 4 PII statements .*no request in force/);
    for (const r of receiver.received) {
      expect(r.headers['x-fdwg-event']).toBe('alert.raised');
      const ts = String(r.headers['x-fdwg-timestamp']);
      expect(r.headers['x-fdwg-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(`${ts}.${r.raw}`).digest('hex')}`);
      expect(r.raw).not.toContain('person');
    }
  });

  test('ingesting without rules raises nothing (the default)', async () => {
    writeFileSync(path.join(dir, 'later.json'), line({ ts: '13:00', user: 'fdwg_alice', stmt: 9, sql: 'SELECT * FROM pii.users' }));
    const db = controlDb(pool);
    expect(await ingestPgauditLogs(db, { logDir: dir, rolePrefix: 'fdwg_', now: () => new Date(Date.now() + 60_000) })).toEqual({ read: 1, events: 1, alerts: 1 });
  });
});
