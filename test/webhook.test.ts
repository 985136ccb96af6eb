// Webhook notifications (issue 4): queued in the transaction of the change, delivered afterwards to
// a real local HTTP receiver, signed with HMAC-SHA256, retried with backoff, given up after the
// configured attempts, never blocking or losing the change itself.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { appendAudit } from '../src/audit/log.js';
import { ConfigError, externalAppConfig, parseEnv } from '../src/config.js';
import { type ControlDb, controlDb } from '../src/db/client.js';
import { analysts, piiRequests } from '../src/db/schema.js';
import { type DispatcherOptions, WebhookDispatcher } from '../src/notify/dispatcher.js';
import { type Notification, notify, requestText } from '../src/notify/outbox.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { withClient } from './support/pg.js';
import { freePort } from '../src/dev/net.js';
import { createLogger } from '../src/log.js';
import { startNotifying } from '../src/node/notifying.js';

const SECRET = 'whsec-test-0123456789abcdef0123456789abcdef';

interface Received {
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: any;
  at: number;
}

/** A real HTTP receiver; `respond` decides each answer (status, or 'hang' to never answer). */
class Receiver {
  received: Received[] = [];
  respond: (r: Received, n: number) => number | 'hang' | Promise<number> = () => 200;
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const r: Received = { headers: req.headers, raw, body: JSON.parse(raw), at: Date.now() };
      this.received.push(r);
      const answer = await this.respond(r, this.received.length);
      if (answer === 'hang') return;
      if (answer >= 300 && answer < 400) res.setHeader('location', `${this.url}/elsewhere`);
      res.statusCode = answer;
      res.end(answer >= 300 ? 'receiver says no; secret=do-not-store-me' : 'ok');
    });
  });
  url = '';

  async start() {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook/token-in-path`;
  }
  reset() {
    this.received = [];
    this.respond = () => 200;
  }
  deliveries(id: number) {
    return this.received.filter((r) => r.headers['x-fdwg-delivery'] === String(id));
  }
  async close() {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Independent of the dispatcher's Web Crypto code: node:crypto, as a receiver would write it. */
function verify(secret: string, r: Received): boolean {
  const ts = r.headers['x-fdwg-timestamp'];
  const sig = r.headers['x-fdwg-signature'];
  if (typeof ts !== 'string' || typeof sig !== 'string') return false;
  const expected = `sha256=${createHmac('sha256', secret).update(`${ts}.${r.raw}`).digest('hex')}`;
  return sig.length === expected.length && timingSafeEqual(Buffer.from(sig), Buffer.from(expected));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let gate: TestGate;
let db: ControlDb;
const receiver = new Receiver();
let analystId: number;

beforeAll(async () => {
  await receiver.start();
  gate = await startTestGate({ demoMessages: 200, config: { webhook: { url: receiver.url, secret: SECRET, maxAttempts: 3 } } });
  // The gate's own login (not the superuser): notify and the dispatcher must work with its grants.
  db = controlDb(gate.controlPool);
  const [a] = await db
    .insert(analysts)
    .values({ username: 'alice', subject: 'sub-alice', roleName: `${gate.prefix}a_alice` })
    .returning({ id: analysts.id });
  analystId = a!.id;
});
afterAll(async () => {
  await gate?.close();
  await receiver.close();
});
beforeEach(() => receiver.reset());

const fast: DispatcherOptions = { baseDelayMs: 20, maxDelayMs: 80, timeoutMs: 2_000 };
const dispatcher = (opts: DispatcherOptions = {}, maxAttempts = 3) =>
  new WebhookDispatcher(db, { url: receiver.url, secret: SECRET, maxAttempts }, { ...fast, ...opts });

async function outboxRow(id: number) {
  return withClient(gate.controlAdminUrl, async (c) => (await c.query(`SELECT * FROM webhook_outbox WHERE id = $1`, [id])).rows[0]);
}
async function pendingCount() {
  return withClient(gate.controlAdminUrl, async (c) =>
    Number((await c.query(`SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL`)).rows[0].count),
  );
}
async function lastOutboxId(): Promise<number> {
  return withClient(gate.controlAdminUrl, async (c) => Number((await c.query(`SELECT coalesce(max(id), 0) AS m FROM webhook_outbox`)).rows[0].m));
}

/** Runs the dispatcher until nothing is pending (waiting out the short backoffs). */
async function drain(d: WebhookDispatcher, limitMs = 10_000) {
  const until = Date.now() + limitMs;
  while ((await pendingCount()) > 0) {
    if (Date.now() > until) throw new Error('outbox did not drain');
    await d.deliverDue();
    await sleep(15);
  }
}

/** A decision as the requests service makes it: the change, its audit event and its notification, one transaction. */
async function createRequest(purpose = 'Measure how many packagers comment on their own updates.', datasets = ['users']) {
  return db.transaction(async (tx) => {
    const [req] = await tx
      .insert(piiRequests)
      .values({ analystId, datasets, purpose, durationSeconds: 7 * 86_400, reviewDeadline: new Date(Date.now() + 3 * 86_400_000), approvalsRequired: 1 })
      .returning({ id: piiRequests.id });
    const requestId = req!.id;
    await appendAudit(tx, { action: 'request.created', actor: 'alice', subject: 'alice', requestId, details: { purpose } });
    const base = { requestId, analyst: 'alice', datasets };
    await notify(tx, {
      event: 'request.created',
      ...base,
      text: requestText(base, { event: 'request.created', purpose, durationSeconds: 7 * 86_400, reviewUrl: `${gate.url}/requests/${requestId}` }),
      details: { purpose, durationSeconds: 7 * 86_400 },
    });
    return { requestId, outboxId: await lastOutboxIdIn(tx) };
  });
}
async function lastOutboxIdIn(tx: Parameters<Parameters<ControlDb['transaction']>[0]>[0]) {
  const r = await tx.execute<{ id: string }>(sql`SELECT currval(pg_get_serial_sequence('webhook_outbox', 'id')) AS id`);
  return Number(r.rows[0]!.id);
}

describe('a committed notification', () => {
  test('arrives once, signed over timestamp and body, with its delivery id and a readable text', async () => {
    const { requestId, outboxId } = await createRequest('Measure @room review latency\nacross releases.');
    const report = await dispatcher().deliverDue();
    expect(report).toEqual({ delivered: 1, retried: 0, failed: 0, stale: 0 });
    expect(receiver.received).toHaveLength(1);
    const r = receiver.received[0]!;

    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['x-fdwg-event']).toBe('request.created');
    expect(r.headers['x-fdwg-delivery']).toBe(String(outboxId));
    expect(r.headers['x-fdwg-attempt']).toBe('1');
    expect(Math.abs(Number(r.headers['x-fdwg-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(r.headers['x-fdwg-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verify(SECRET, r)).toBe(true);
    expect(verify(`${SECRET}x`, r)).toBe(false);
    // A body changed in transit no longer verifies.
    expect(verify(SECRET, { ...r, raw: r.raw.replace('alice', 'mallory') })).toBe(false);

    expect(r.body).toMatchObject({ id: outboxId, event: 'request.created', requestId, analyst: 'alice', datasets: ['users'] });
    expect(new Date(r.body.timestamp).getTime()).toBeGreaterThan(Date.now() - 60_000);
    // Matrix-readable: one line naming who, what, how long and why, that cannot ping the room.
    expect(r.body.text).toBe(
      `[FDWG] alice requests PII access to users for 7 days (request #${requestId}): "Measure @\u200broom review latency across releases." Review: ${gate.url}/requests/${requestId}`,
    );
    expect(r.body.text).not.toContain('\n');

    const row = await outboxRow(outboxId);
    expect(row.delivered_at).not.toBeNull();
    expect(row.attempts).toBe(1);
    expect(row.last_error).toBeNull();
    // Delivered rows are not sent again.
    expect(await dispatcher().deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0, stale: 0 });
    expect(receiver.received).toHaveLength(1);
  });

  test('the gate built with a webhook configured has a dispatcher aimed at it', async () => {
    expect(gate.services.webhooks).toBeInstanceOf(WebhookDispatcher);
    const { outboxId } = await createRequest();
    await gate.services.webhooks!.deliverDue();
    expect(receiver.deliveries(outboxId)).toHaveLength(1);
    expect(verify(SECRET, receiver.received[0]!)).toBe(true);
  });
});

describe('the Node runner', () => {
  test('delivers on its interval and logs counts, never the URL or the secret', async () => {
    const lines: string[] = [];
    receiver.respond = (r) => (r.headers['x-fdwg-attempt'] === '1' ? 500 : 200);
    const stop = startNotifying(dispatcher(), createLogger('debug', (l) => lines.push(l)), 30);
    try {
      const { outboxId } = await createRequest();
      const until = Date.now() + 5_000;
      while (!(await outboxRow(outboxId)).delivered_at && Date.now() < until) await sleep(20);
      expect((await outboxRow(outboxId)).delivered_at).not.toBeNull();
      expect(receiver.deliveries(outboxId)).toHaveLength(2);
    } finally {
      await stop();
      await sleep(200); // let a run that already started finish before the next test
    }
    expect(lines.some((l) => JSON.parse(l).msg === 'webhook notifications' && JSON.parse(l).retried === 1)).toBe(true);
    expect(lines.some((l) => JSON.parse(l).delivered === 1)).toBe(true);
    const all = lines.join('\n');
    expect(all).not.toContain('token-in-path');
    expect(all).not.toContain(SECRET);
  });
});

describe('retries', () => {
  test('500 twice then 200: the same delivery three times, with backoff, ending delivered', async () => {
    const { outboxId } = await createRequest();
    receiver.respond = (_r, n) => (n <= 2 ? 500 : 200);
    const d = dispatcher({ baseDelayMs: 400, maxDelayMs: 2_000, random: () => 0.5 });

    expect(await d.deliverDue()).toMatchObject({ retried: 1, delivered: 0 });
    const afterFirst = await outboxRow(outboxId);
    expect(afterFirst.last_error).toBe('HTTP 500');
    expect(afterFirst.attempts).toBe(1);
    // Not due again before its backoff (400 ms for the first retry).
    expect(new Date(afterFirst.next_attempt_at).getTime()).toBeGreaterThan(Date.now() + 200);
    expect(await d.deliverDue()).toEqual({ delivered: 0, retried: 0, failed: 0, stale: 0 });
    expect(receiver.received).toHaveLength(1);

    await drain(d);
    const got = receiver.deliveries(outboxId);
    expect(got).toHaveLength(3);
    expect(got.map((r) => r.headers['x-fdwg-attempt'])).toEqual(['1', '2', '3']);
    expect(new Set(got.map((r) => r.raw)).size).toBe(1); // the same body each time
    for (const r of got) expect(verify(SECRET, r)).toBe(true);
    // Exponential: the second retry waited about twice as long as the first (400 ms, then 800 ms).
    const gap1 = got[1]!.at - got[0]!.at;
    const gap2 = got[2]!.at - got[1]!.at;
    expect(gap1).toBeGreaterThanOrEqual(380);
    expect(gap2).toBeGreaterThanOrEqual(780);

    const row = await outboxRow(outboxId);
    expect(row.delivered_at).not.toBeNull();
    expect(row.failed_at).toBeNull();
    expect(row.attempts).toBe(3);
    expect(row.last_error).toBeNull();
  });

  test('a receiver that never answers 2xx: given up after max attempts, the committed change stands', async () => {
    receiver.respond = () => 503;
    const { requestId, outboxId } = await createRequest();
    await drain(dispatcher());
    expect(receiver.deliveries(outboxId)).toHaveLength(3);
    const row = await outboxRow(outboxId);
    expect(row.failed_at).not.toBeNull();
    expect(row.delivered_at).toBeNull();
    expect(row.attempts).toBe(3);
    expect(row.last_error).toBe('HTTP 503');
    // Nothing of the receiver's answer is kept.
    expect(JSON.stringify(row)).not.toContain('do-not-store-me');
    // The request and its audit event were committed whatever the receiver did.
    const [req] = await db.select().from(piiRequests).where(eq(piiRequests.id, requestId));
    expect(req?.state).toBe('pending');
    const audit = await withClient(gate.controlAdminUrl, (c) => c.query(`SELECT action FROM audit_events WHERE request_id = $1`, [requestId]));
    expect(audit.rows.map((r) => r.action)).toEqual(['request.created']);
  });

  test('a receiver that hangs times out; no lock or transaction is held while it hangs', async () => {
    receiver.respond = () => 'hang';
    const { outboxId } = await createRequest();
    const run = dispatcher({ timeoutMs: 2_000 }, 1).deliverDue({ maxRows: 1 });
    while (receiver.received.length === 0) await sleep(10);
    // Mid-send: the row is not locked, and the gate's connections are not idle in a transaction.
    await withClient(gate.controlAdminUrl, async (c) => {
      await c.query('BEGIN');
      await c.query(`SELECT id FROM webhook_outbox WHERE id = $1 FOR UPDATE NOWAIT`, [outboxId]);
      await c.query('ROLLBACK');
      const idle = await c.query(`SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state LIKE 'idle in transaction%'`, [gate.roles.gate]);
      expect(Number(idle.rows[0].count)).toBe(0);
    });
    // A decision meanwhile commits without waiting for the receiver.
    const t0 = Date.now();
    await createRequest();
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(receiver.received).toHaveLength(1);
    expect(await run).toMatchObject({ failed: 1 });
    const row = await outboxRow(outboxId);
    expect(row.last_error).toBe('timeout after 2000 ms');
    expect(row.failed_at).not.toBeNull();
    receiver.respond = () => 200;
    await drain(dispatcher());
  });

  test('a redirect is not followed: it counts as a failed attempt', async () => {
    receiver.respond = (r) => (r.headers['x-fdwg-attempt'] === '1' ? 302 : 200);
    const { outboxId } = await createRequest();
    await dispatcher({ baseDelayMs: 300 }).deliverDue();
    expect(receiver.received).toHaveLength(1); // nothing went to /elsewhere
    expect((await outboxRow(outboxId)).last_error).toBe('HTTP 302');
    await drain(dispatcher());
    expect(receiver.deliveries(outboxId)).toHaveLength(2);
    expect(receiver.received.every((r) => r.headers['x-fdwg-delivery'] === String(outboxId))).toBe(true);
  });

  test('a receiver that is down: the error names the network failure, not the URL', async () => {
    const { outboxId } = await createRequest();
    const closedPort = await freePort(); // free now, so nothing listens there
    const down = new WebhookDispatcher(db, { url: `http://127.0.0.1:${closedPort}/hook/secret-token`, secret: SECRET, maxAttempts: 1 }, fast);
    expect(await down.deliverDue()).toMatchObject({ failed: 1 });
    const row = await outboxRow(outboxId);
    expect(row.last_error).toBe('network error (ECONNREFUSED)');
  });
});

describe('transactions and concurrency', () => {
  test('a rolled-back transaction queues and sends nothing', async () => {
    const before = await lastOutboxId();
    await expect(
      db.transaction(async (tx) => {
        await notify(tx, { event: 'request.decided', requestId: 999_999, analyst: 'alice', datasets: ['users'], text: 'never' });
        throw new Error('the decision failed');
      }),
    ).rejects.toThrow('the decision failed');
    const after = await withClient(gate.controlAdminUrl, (c) => c.query(`SELECT count(*) FROM webhook_outbox WHERE id > $1`, [before]));
    expect(Number(after.rows[0].count)).toBe(0);
    await dispatcher().deliverDue();
    expect(receiver.received).toHaveLength(0);
  });

  test('two dispatchers at once deliver each row exactly once, and a request\'s events in order', async () => {
    receiver.respond = async () => {
      await sleep(5);
      return 200;
    };
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) {
      const { requestId, outboxId } = await createRequest(`Purpose number ${i}, long enough to be read.`);
      ids.push(outboxId);
      // Every third request also gets decided: its second event must follow its first.
      if (i % 3 === 0) {
        await db.transaction(async (tx) => {
          const base = { requestId, analyst: 'alice', datasets: ['users'] };
          await notify(tx, { event: 'request.decided', ...base, text: requestText(base, { event: 'request.decided', decision: 'approved', decidedBy: 'bob' }) });
        });
        ids.push(await lastOutboxId());
      }
    }
    const a = dispatcher({ batchSize: 3 });
    const b = dispatcher({ batchSize: 3 });
    const [ra, rb] = await Promise.all([a.deliverDue(), b.deliverDue()]);
    expect(ra.delivered + rb.delivered).toBe(ids.length);
    // Both took part (neither starved the other) and nothing is left.
    expect(ra.delivered).toBeGreaterThan(0);
    expect(rb.delivered).toBeGreaterThan(0);
    expect(await pendingCount()).toBe(0);
    for (const id of ids) expect(receiver.deliveries(id), `delivery ${id}`).toHaveLength(1);
    expect(receiver.received).toHaveLength(ids.length);

    const byRequest = new Map<number, string[]>();
    for (const r of receiver.received) byRequest.set(r.body.requestId, [...(byRequest.get(r.body.requestId) ?? []), r.body.event]);
    const decided = [...byRequest.values()].filter((events) => events.length === 2);
    expect(decided).toHaveLength(4);
    for (const events of decided) expect(events).toEqual(['request.created', 'request.decided']);
  });

  test('a later event waits while an earlier one of the same request is being retried', async () => {
    const { requestId, outboxId } = await createRequest();
    await db.transaction(async (tx) => {
      const base = { requestId, analyst: 'alice', datasets: ['users'] };
      await notify(tx, { event: 'request.decided', ...base, text: requestText(base, { event: 'request.decided', decision: 'denied', decidedBy: 'bob', comment: 'Use the pseudonymized tier.' }) });
    });
    const other = await createRequest(); // another request is not held up
    receiver.respond = (r) => (r.body.requestId === requestId && r.body.event === 'request.created' && r.headers['x-fdwg-attempt'] === '1' ? 500 : 200);
    await dispatcher({ baseDelayMs: 300 }).deliverDue();
    expect(receiver.received.map((r) => `${r.body.requestId} ${r.body.event}`).sort()).toEqual(
      [`${requestId} request.created`, `${other.requestId} request.created`].sort(),
    );
    await drain(dispatcher());
    const mine = receiver.received.filter((r) => r.body.requestId === requestId);
    expect(mine.map((r) => r.body.event)).toEqual(['request.created', 'request.created', 'request.decided']);
    expect(mine[2]!.body.text).toBe(`[FDWG] alice's request #${requestId} for users was denied by bob: "Use the pseudonymized tier.".`);
    expect(mine[0]!.headers['x-fdwg-delivery']).toBe(String(outboxId));
  });

  test('notifications queued long ago (no webhook back then) are given up, not sent', async () => {
    const { outboxId } = await createRequest();
    await withClient(gate.controlAdminUrl, (c) => c.query(`UPDATE webhook_outbox SET created_at = now() - interval '2 days' WHERE id = $1`, [outboxId]));
    expect(await dispatcher().deliverDue()).toMatchObject({ stale: 1, delivered: 0 });
    expect(receiver.received).toHaveLength(0);
    const row = await outboxRow(outboxId);
    expect(row.failed_at).not.toBeNull();
    expect(row.attempts).toBe(0);
    expect(row.last_error).toBe('stale: not delivered within 86400 s');
  });
});

describe('payload rules', () => {
  test('secret-looking detail fields are refused and take the transaction down with them', async () => {
    const before = await lastOutboxId();
    const bad: Notification = { event: 'access.ended', requestId: 1, analyst: 'alice', datasets: ['users'], text: 'x', details: { role: 'r', password: 'hunter2' } };
    await expect(db.transaction((tx) => notify(tx, bad))).rejects.toThrow(/details\.password: secret-looking/);
    await expect(db.transaction((tx) => notify(tx, { ...bad, details: { nested: [{ apiToken: 'x' }] } }))).rejects.toThrow(/apiToken/);
    expect(await lastOutboxId()).toBe(before);
  });

  test('texts for every event read as one sentence', () => {
    const r = { requestId: 7, analyst: 'alice', datasets: ['users', 'emails'] };
    expect(requestText(r, { event: 'request.created', purpose: 'x'.repeat(1000), durationSeconds: 3_600 })).toMatch(
      /^\[FDWG\] alice requests PII access to users, emails for 1 hour \(request #7\): "x{399}…"$/,
    );
    expect(requestText(r, { event: 'request.decided', decision: 'expired' })).toBe(
      "[FDWG] alice's request #7 for users, emails expired without a decision.",
    );
    expect(requestText(r, { event: 'grant.expiring_soon', expiresAt: new Date('2026-11-24T09:30:00Z') })).toBe(
      "[FDWG] alice's PII access to users, emails (request #7) ends at 2026-11-24 09:30 UTC.",
    );
    expect(requestText(r, { event: 'access.ended', reason: 'expired' })).toBe(
      "[FDWG] alice's PII access to users, emails (request #7) has ended (expired).",
    );
  });
});

describe('configuration', () => {
  const external = {
    CONTROL_DATABASE_URL: 'postgres://gate@db/gate_control',
    WAREHOUSE_DATABASE_URL: 'postgres://gate@db/warehouse',
    OIDC_ISSUER: 'https://id.example.org',
    OIDC_CLIENT_ID: 'x',
    OIDC_CLIENT_SECRET: 'y',
    SESSION_SECRET: 'z'.repeat(32),
  };

  test('a webhook URL needs a long secret; every problem is listed and the secret never echoed', () => {
    const problems = (env: Record<string, string>) => {
      try {
        parseEnv(env);
        return [];
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ WEBHOOK_URL: 'https://matrix.example.org/hook' })).toEqual(['WEBHOOK_SECRET: required when WEBHOOK_URL is set']);
    const short = problems({ WEBHOOK_URL: 'ftp://x', WEBHOOK_SECRET: 'short-secret-value', WEBHOOK_MAX_ATTEMPTS: '0' });
    expect(short.join('\n')).toMatch(/WEBHOOK_URL: /);
    expect(short.join('\n')).toMatch(/WEBHOOK_SECRET: at least 32 characters/);
    expect(short.join('\n')).toMatch(/WEBHOOK_MAX_ATTEMPTS: /);
    expect(short.join('\n')).not.toContain('short-secret-value');
    expect(problems({ WEBHOOK_SECRET: SECRET })).toEqual(['WEBHOOK_URL: required when WEBHOOK_SECRET is set']);
  });

  test('the parsed webhook reaches the app config; without one there is none', () => {
    const withHook = externalAppConfig(parseEnv({ ...external, WEBHOOK_URL: 'https://hooks.example.org/x', WEBHOOK_SECRET: SECRET }));
    expect(withHook.config.webhook).toEqual({ url: 'https://hooks.example.org/x', secret: SECRET, maxAttempts: 12 });
    expect(externalAppConfig(parseEnv(external)).config.webhook).toBeUndefined();
    expect(parseEnv({ ...external, WEBHOOK_URL: 'https://h.example.org', WEBHOOK_SECRET: SECRET, WEBHOOK_MAX_ATTEMPTS: '4' }).WEBHOOK_MAX_ATTEMPTS).toBe(4);
  });
});
