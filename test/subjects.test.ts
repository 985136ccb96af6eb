// The data-subject report (issue 15) against Debian's PostgreSQL 15 with pgaudit: a scenario built
// through the real flow over HTTP (alice asks for maintainer_identities, bob approves, alice reads
// naming and not naming the person, the grant expires and the sweeper ends it, a DBA's hand grant
// reads the whole table), pgaudit's log ingested with the policy's alert rules, then the report
// asked for by carol (auditor) as JSON and as a page; checked against what the warehouse and the
// scenario say. Asking is audited; a non-auditor gets 403; a report needs a reason.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { alertEvaluator } from '../src/alerts/evaluate.js';
import { parseJsonLogLine } from '../src/audit/pgaudit.js';
import { ingestPgauditLogs } from '../src/audit/pgaudit-ingest.js';
import { requestInForceLookup } from '../src/audit/request-in-force.js';
import { controlDb } from '../src/db/client.js';
import { urlWith } from '../src/node/databases.js';
import { datasetRole } from '../src/provisioner/roles.js';
import { installSubjectLookup } from '../src/subjects/lookup.js';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type DebianPostgres, startDebianPostgres } from './support/debian-pg.js';
import { type TestGate, analystClient, startGateOn } from './support/gate-core.js';
import { HttpSession, signIn } from './support/http-session.js';
import { controlRows } from './support/seed.js';
import { withClient } from './support/pg.js';

let cluster: DebianPostgres;
let gate: TestGate;
let subject: string;
let pseudonyms: string[];
let textRows: number;
let requestId: number;
const PURPOSE = 'Join the maintainer roster to pseudonyms for the data-subject report scenario.';
const REASON = 'Subject access request received 2026-11-30 (ticket 4711)';

async function session(who: string) {
  const s = new HttpSession();
  await signIn(s, gate.url, who, `${who}-demo`);
  return async (method: string, path: string, body?: unknown) => {
    const res = await s.request(`${gate.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, data: (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : null };
  };
}

const auditLines = () =>
  readdirSync(cluster.logDir)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => readFileSync(path.join(cluster.logDir, f), 'utf8').split('\n'))
    .filter((l) => parseJsonLogLine(l) !== null).length;

async function waitForAuditLines(n: number) {
  const deadline = Date.now() + 10_000;
  while (auditLines() < n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} pgaudit lines, found ${auditLines()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  cluster = await startDebianPostgres({ pgaudit: true });
  gate = await startGateOn(cluster.superuserUrl, { demoMessages: 300 });
  await withClient(gate.warehouseAdminUrl, async (c) => {
    // The test's own look at the answers is kept out of pgaudit's log (a superuser may).
    await c.query(`SET pgaudit.role = ''`);
    await installSubjectLookup(c, gate.prefix);
    // The person: someone the warehouse holds free text by, if any, else anyone in pii.users.
    const { rows } = await c.query(
      `SELECT u.username, (SELECT count(*)::int FROM pii.message_text t WHERE t.author_email = u.email) AS texts
         FROM pii.users u ORDER BY 2 DESC, 1 LIMIT 1`,
    );
    subject = rows[0].username;
    textRows = rows[0].texts;
    pseudonyms = (await c.query(`SELECT pseudonym FROM pii.users WHERE username = $1 ORDER BY 1`, [subject])).rows.map((r) => r.pseudonym);
  });

  const alice = await session('alice');
  const bob = await session('bob');
  expect((await alice('POST', '/api/agreement', { version: gate.policy.agreement.version })).status).toBe(200);
  const cred = (await alice('POST', '/api/credentials', {})).data;
  const created = await alice('POST', '/api/requests', { datasets: ['maintainer_identities'], purpose: PURPOSE, durationSeconds: 3600 });
  expect(created.status).toBe(201);
  requestId = created.data.id;
  expect((await bob('POST', `/api/requests/${requestId}/reviews`, { decision: 'approve', comment: 'roster only' })).status).toBe(200);

  const c = analystClient(gate, cred.role, cred.password);
  c.on('error', () => {}); // the sweeper ends this session
  await c.connect();
  try {
    // Names the person by username, in another case; a near miss (a longer word); by pseudonym.
    await c.query(`SELECT email FROM pii.users WHERE username = '${subject.toUpperCase()}'`);
    await c.query(`SELECT count(*) FROM pii.users WHERE username = '${subject}x'`);
    // A literal: pgaudit logs the text, never the bound parameters (pgaudit.log_parameter off).
    await c.query(`SELECT email FROM pii.users WHERE pseudonym = '${pseudonyms[0]}'`);
  } finally {
    await c.end().catch(() => {});
  }
  await waitForAuditLines(3);
  // The grant's window closes (after the reads, whose log time is to the millisecond); the
  // sweeper ends it as expired.
  await new Promise((r) => setTimeout(r, 1_100));
  await controlRows(gate, `UPDATE pii_grants SET expires_at = now() - interval '1 second' WHERE request_id = $1`, [requestId]);
  await gate.services.grantSweeper.sweep();

  // A DBA grants the dataset role by hand: a read no request stands behind, of the whole table.
  await withClient(gate.warehouseAdminUrl, async (s) => {
    await s.query(`CREATE ROLE dba_dave LOGIN PASSWORD 'dave-dba-pw'`);
    await s.query(`GRANT CONNECT ON DATABASE ${s.escapeIdentifier(gate.config.analystDb.database)} TO dba_dave`);
    await s.query(`GRANT ${s.escapeIdentifier(datasetRole(gate.prefix, 'maintainer_identities'))} TO dba_dave`);
  });
  await withClient(urlWith(gate.warehouseAdminUrl, gate.config.analystDb.database, 'dba_dave', 'dave-dba-pw'), (d) => d.query('SELECT * FROM pii.users'));
  await waitForAuditLines(4);

  const db = controlDb(gate.controlPool);
  const ingested = await ingestPgauditLogs(db, {
    logDir: cluster.logDir,
    rolePrefix: gate.prefix,
    now: () => new Date(Date.now() + 60_000),
    findRequestInForce: requestInForceLookup(db, gate.policy.pii_datasets),
    alerts: alertEvaluator(db, gate.policy.alerts),
  });
  // Alerts: the DBA's whole-table read, and alice's three reads, all in the last 10 minutes of a
  // grant that ended right after them (policy.yaml's whole_table and last_minutes).
  expect(ingested).toMatchObject({ events: 4, alerts: 1, raised: 4 });
}, 90_000);

afterAll(async () => {
  await gate?.close();
  await cluster?.stop();
});

const reportPath = (username: string, q: Record<string, string>) => `/api/audit/subjects/${encodeURIComponent(username)}?${new URLSearchParams(q)}`;

describe('the data-subject report', () => {
  test('JSON: where the person appears, who could read, who did, which statements name them, the alerts', async () => {
    const carol = await session('carol');
    const res = await carol('GET', reportPath(subject, { reason: REASON }));
    expect(res.status, res.text).toBe(200);
    const r = res.data;
    expect(r).toMatchObject({ username: subject, reason: REASON, requestedBy: 'carol' });
    expect(r.presence).toEqual({
      checked: true,
      pseudonyms,
      tables: [{ table: 'pii.users', rows: pseudonyms.length }, ...(textRows > 0 ? [{ table: 'pii.message_text', rows: textRows }] : [])],
    });
    expect(r.datasets).toEqual(textRows > 0 ? ['maintainer_identities', 'message_text'] : ['maintainer_identities']);
    // No value from the PII tables is in the report, only names and counts.
    const emails = await withClient(gate.warehouseAdminUrl, async (c) => {
      await c.query(`SET pgaudit.role = ''`);
      return (await c.query(`SELECT email FROM pii.users WHERE username = $1`, [subject])).rows;
    });
    for (const e of emails) expect(res.text).not.toContain(e.email);

    expect(r.grants).toEqual([
      expect.objectContaining({ requestId, analyst: 'alice', dataset: 'maintainer_identities', purpose: PURPOSE, approvers: ['bob'], endReason: 'expired' }),
    ]);
    expect(r.grants[0].endedAt).not.toBeNull();

    const byRole = Object.fromEntries(r.readers.map((x: any) => [x.role, x]));
    expect(byRole[`${gate.prefix}alice`]).toMatchObject({ analyst: 'alice', requestIds: [requestId], reads: 3, outsideGrant: 0 });
    expect(byRole.dba_dave).toMatchObject({ analyst: null, requestIds: [], reads: 1, outsideGrant: 1 });
    expect(r.readsTotal).toBe(4);

    expect(r.namingTotal).toBe(2);
    expect(r.namingReads.map((x: any) => x.statement)).toEqual([
      `SELECT email FROM pii.users WHERE pseudonym = '${pseudonyms[0]}'`,
      `SELECT email FROM pii.users WHERE username = '${subject.toUpperCase()}'`,
    ]);
    expect(r.latestReads.map((x: any) => [x.analyst, x.namesSubject, x.outsideGrant])).toEqual([
      [null, false, true],
      ['alice', true, false],
      ['alice', false, false],
      ['alice', true, false],
    ]);
    expect(r.alerts.map((a: any) => [a.rule, a.analyst, a.readEventId, a.requestId])).toEqual([
      ['whole_table', null, r.latestReads[0].eventId, null],
      ...r.latestReads.slice(1).map((x: any) => ['last_minutes', 'alice', x.eventId, requestId]),
    ]);
  });

  test('the page shows the same report, printable, with its JSON export', async () => {
    const carol = await session('carol');
    const res = await carol('GET', `/audit/subjects/${encodeURIComponent(subject)}?${new URLSearchParams({ reason: REASON })}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('Statements naming them: 2');
    expect(res.text).toContain('@media print');
    expect(res.text).toMatch(/id="export-json"/);
    expect(res.text).toContain('expired');
    // The form sends its fields on to the report's address.
    const form = await carol('GET', `/audit/subjects?username=${encodeURIComponent(subject)}&reason=${encodeURIComponent(REASON)}&from=&to=`);
    expect(form.status).toBe(303);
  });

  test('every report is an audited subject.report event with the reason; a non-auditor gets 403; no reason is a 400', async () => {
    const before = await controlRows(gate, `SELECT actor, subject, details FROM audit_events WHERE action = 'subject.report' ORDER BY id`);
    expect(before.length).toBeGreaterThanOrEqual(2);
    expect(before.every((e) => e.actor === 'carol' && e.subject === subject && e.details.reason === REASON)).toBe(true);
    expect(before.map((e) => e.details.format).sort()).toEqual(['json', 'page']);

    for (const who of ['alice', 'bob', 'erin']) {
      const res = await (await session(who))('GET', reportPath(subject, { reason: REASON }));
      expect(res.status, who).toBe(403);
    }
    const carol = await session('carol');
    expect((await carol('GET', reportPath(subject, {}))).status).toBe(400);
    expect((await carol('GET', reportPath(subject, { reason: 'because' }))).status).toBe(400);
    expect((await carol('GET', reportPath(subject, { reason: REASON, from: '2026-12-01', to: '2026-01-01' }))).status).toBe(400);
    expect((await carol('GET', reportPath(subject, { reason: REASON, extra: 'x' }))).status).toBe(400);
    const after = await controlRows(gate, `SELECT 1 FROM audit_events WHERE action = 'subject.report'`);
    expect(after).toHaveLength(before.length);
    // The person's timeline shows who asked about them.
    const timeline = await carol('GET', `/audit/analysts/${encodeURIComponent(subject)}`);
    expect(timeline.text).toContain('subject.report');
  });

  test('a person the warehouse does not hold: no rows, no datasets, no reads', async () => {
    const carol = await session('carol');
    const res = await carol('GET', reportPath('nobody-at-all', { reason: REASON }));
    expect(res.status).toBe(200);
    expect(res.data).toMatchObject({ presence: { checked: true, pseudonyms: [], tables: [] }, datasets: [], grants: [], readsTotal: 0 });
  });
});
