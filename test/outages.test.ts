// A database that stops or freezes while the gate serves: clear 503s within seconds (JSON for the
// API, the error page for HTML), /healthz naming the part that is down, no crash, and service back
// by itself when the part returns. The gate's pools go through TCP proxies on 127.0.0.1 that we
// cut (a stopped server) or freeze (a stopped process), so the shared test cluster is untouched.
import { sql } from 'drizzle-orm';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SERVING_POOL_TIMEOUTS, controlDb, createPool } from '../src/db/client.js';
import { type TestGate, startTestGate } from './support/gate.js';
import { HttpSession, signIn } from './support/http-session.js';
import { type TcpProxy, startTcpProxy } from './support/tcp-proxy.js';

let gate: TestGate;
let control: TcpProxy;
let warehouse: TcpProxy;
const alice = new HttpSession();
/** Seconds to each answer that matters, for the closing note. */
const figures: string[] = [];

const target = (url: string) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) });

/** This test's client-side query timeout on the warehouse (shorter than the serving gate's, to keep the test short). */
const QUERY_TIMEOUT_MS = 6_000;

/** Points a pool's future connections through a proxy, with the serving gate's timeouts (or a shorter query timeout). */
function through(pool: pg.Pool, proxy: TcpProxy, queryTimeoutMillis: number = SERVING_POOL_TIMEOUTS.queryTimeoutMillis) {
  const options = (pool as unknown as { options: Record<string, unknown> }).options;
  options.connectionString = proxy.via(String(options.connectionString));
  options.connectionTimeoutMillis = SERVING_POOL_TIMEOUTS.connectionTimeoutMillis;
  options.query_timeout = queryTimeoutMillis;
}

/** One request with a deadline: how long it took, and its status (0: no answer in time). */
async function timed(path: string, init: RequestInit & { as?: HttpSession } = {}, deadlineMs = 10_000) {
  const started = performance.now();
  const { as, ...rest } = init;
  try {
    const signal = AbortSignal.timeout(deadlineMs);
    const res = as ? await as.request(`${gate.url}${path}`, { ...rest, signal }) : await fetch(`${gate.url}${path}`, { ...rest, signal });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text), seconds: (performance.now() - started) / 1000 };
  } catch {
    return { status: 0, text: '', json: () => ({}), seconds: (performance.now() - started) / 1000 };
  }
}

/** Polls until `path` answers `status` (the part came back) or the deadline passes. */
async function until(path: string, status: number, as?: HttpSession, deadlineMs = 15_000) {
  const started = performance.now();
  for (;;) {
    const r = await timed(path, { as }, 5_000);
    if (r.status === status || performance.now() - started > deadlineMs) return { ...r, seconds: (performance.now() - started) / 1000 };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeAll(async () => {
  let pools: { control: pg.Pool; warehouse: pg.Pool } | undefined;
  gate = await startTestGate({ onPools: (p) => (pools = p) });
  control = await startTcpProxy(target(gate.controlUrl));
  warehouse = await startTcpProxy(target(gate.warehouseUrl));
  // No query has run on these pools yet: every connection they open goes through a proxy.
  through(pools!.control, control);
  through(pools!.warehouse, warehouse, QUERY_TIMEOUT_MS);
  await signIn(alice, gate.url, 'alice', 'alice-demo');
  expect((await timed('/api/agreement', { as: alice, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version: gate.policy.agreement.version }) })).status).toBe(200);
  expect((await timed('/healthz')).status).toBe(200);
  expect(control.state).toBe('open');
}, 60_000);

afterAll(async () => {
  console.log(`outages: ${figures.join('; ')}`);
  await control?.restore();
  await warehouse?.restore();
  await gate?.close();
  await control?.close();
  await warehouse?.close();
});

describe('the control database stops', () => {
  test('the API and the pages answer 503 within seconds, /healthz names control, and all of it comes back', async () => {
    await control.cut();

    const me = await timed('/api/me', { as: alice });
    figures.push(`control stopped: /api/me ${me.status} in ${me.seconds.toFixed(2)} s`);
    expect(me.status, me.text).toBe(503);
    expect(me.json().error).toMatchObject({ code: 'db_unavailable', message: expect.stringMatching(/not answering/) });
    expect(me.seconds).toBeLessThan(5);

    const home = await timed('/', { as: alice, headers: { accept: 'text/html' } });
    expect(home.status, home.text.slice(0, 300)).toBe(503);
    expect(home.text).toMatch(/not answering/);
    expect(home.text).toMatch(/<html/);

    const health = await timed('/healthz');
    figures.push(`control stopped: /healthz ${health.status} in ${health.seconds.toFixed(2)} s`);
    expect(health.status).toBe(503);
    expect(health.json()).toMatchObject({ status: 'unavailable', down: ['control'], checks: { control: { ok: false }, warehouse: { ok: true } } });
    expect(health.seconds).toBeLessThan(3);

    await control.restore();
    const back = await until('/api/me', 200, alice);
    figures.push(`control back: /api/me 200 after ${back.seconds.toFixed(2)} s`);
    expect(back.status, back.text).toBe(200);
    expect(back.json().username).toBe('alice');
    expect((await timed('/healthz')).status).toBe(200);
    expect((await timed('/', { as: alice, headers: { accept: 'text/html' } })).status).toBe(200);
  });
});

describe('the warehouse freezes', () => {
  test('/healthz answers 503 naming the warehouse within ~3 s, requests needing it a 503, and all of it comes back', async () => {
    warehouse.freeze();

    const health = await timed('/healthz', {}, 10_000);
    figures.push(`warehouse frozen: /healthz ${health.status} in ${health.seconds.toFixed(2)} s`);
    expect(health.status, 'no answer from /healthz in 10 s').toBe(503);
    expect(health.json()).toMatchObject({ status: 'unavailable', down: ['warehouse'], checks: { control: { ok: true }, warehouse: { ok: false } } });
    expect(health.seconds).toBeLessThan(3.5);

    // What does not need the warehouse keeps working.
    expect((await timed('/api/me', { as: alice })).status).toBe(200);

    // Issuing a password needs it: a clear 503 once the query timeout passes, nothing issued.
    const issue = await timed('/api/credentials', { as: alice, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }, 20_000);
    figures.push(`warehouse frozen: POST /api/credentials ${issue.status} in ${issue.seconds.toFixed(2)} s (query timeout ${QUERY_TIMEOUT_MS / 1000} s here)`);
    expect(issue.status, issue.text).toBe(503);
    expect(issue.json().error.code).toBe('db_unavailable');

    await warehouse.restore();
    const back = await until('/healthz', 200);
    figures.push(`warehouse thawed: /healthz 200 after ${back.seconds.toFixed(2)} s`);
    expect(back.status).toBe(200);
    const issued = await timed('/api/credentials', { as: alice, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(issued.status, issued.text).toBe(201);
  }, 60_000);
});

describe('the other way round', () => {
  test('the warehouse stopped: /healthz names it at once; the control database frozen: /healthz names it within ~3 s and /api/me is a 503', async () => {
    await warehouse.cut();
    const down = await timed('/healthz');
    figures.push(`warehouse stopped: /healthz ${down.status} in ${down.seconds.toFixed(2)} s`);
    expect(down.status).toBe(503);
    expect(down.json().down).toEqual(['warehouse']);
    await warehouse.restore();
    expect((await until('/healthz', 200)).status).toBe(200);

    control.freeze();
    const health = await timed('/healthz', {}, 10_000);
    figures.push(`control frozen: /healthz ${health.status} in ${health.seconds.toFixed(2)} s`);
    expect(health.status).toBe(503);
    expect(health.json().down).toEqual(['control']);
    expect(health.seconds).toBeLessThan(3.5);
    const me = await timed('/api/me', { as: alice }, 20_000);
    figures.push(`control frozen: /api/me ${me.status} in ${me.seconds.toFixed(2)} s`);
    expect(me.status, me.text).toBe(503);
    // The session read's own deadline, not the pool's 15 s query timeout.
    expect(me.seconds).toBeLessThan(5);
    await control.restore();
    expect((await until('/api/me', 200, alice)).status).toBe(200);
    expect((await until('/healthz', 200)).status).toBe(200);
  }, 60_000);
});

describe('after a freeze', () => {
  test('a connection given back with its query unanswered, inside a transaction, serves nobody else', async () => {
    const pool = createPool(control.via(gate.controlUrl), 1, { queryTimeoutMillis: 1_000 });
    try {
      const first = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const db = controlDb(pool);
      const failed = db.transaction(async (tx) => {
        await tx.execute(sql`SELECT 1`);
        control.freeze();
        await tx.execute(sql`SELECT 2`);
      });
      await expect(failed).rejects.toThrow();
      await control.restore();
      // Had the client gone back to the pool, this would run inside the old, still open transaction.
      const { rows } = await pool.query<{ pid: number; fresh: boolean }>(
        `SELECT pg_backend_pid() AS pid, xact_start = query_start AS fresh FROM pg_stat_activity WHERE pid = pg_backend_pid()`,
      );
      expect(rows[0]!.fresh).toBe(true);
      expect(rows[0]!.pid).not.toBe(first);
    } finally {
      await control.restore();
      await pool.end();
    }
  });
});
