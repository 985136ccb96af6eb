// Bench P2: requests per second of an authenticated API decision, `GET /api/me` with a gate token,
// against two floors measured in the same run, same process, same client (autocannon):
//   bare        a bare hono route on @hono/node-server returning the same JSON;
//   bare+query  the same route also running one prepared, indexed query on a pooled pg client
//               (the floor of any decision that consults the database).
//
//   npm run bench:api -- [--connections 10] [--seconds 8] [--rounds 3] [--warmup-seconds 2] [--out tmp/bench/api-decision.json]
//
// Rounds alternate the targets so drift hits all alike; the figure is the median of the rounds'
// mean req/s. The cookie session is measured too (`GET /api/me` with the browser cookie).
// Target (issue 14, P2): gate /api/me at least 0.5 of the bare+query floor's rate, token and cookie;
// the JSON's `figures` carry both for `npm run bench:all`.
// autocannon runs as its own process (its CLI), so the load generator does not share the event
// loop of the servers it measures.
import { serve } from '@hono/node-server';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Hono } from 'hono';
import pg from 'pg';
import { createPool } from '../src/db/client.js';
import { startGateOn } from '../test/support/gate-core.js';
import { deviceToken, signedInBrowser } from '../test/support/personas.js';
import os from 'node:os';
import { type Figure, environment, formatTable, freePort, median, repoRoot, runBench, startCluster, writeJson } from './lib.js';

const say = (s = '') => process.stdout.write(`${s}\n`);
/** Issue 14, P2: an authenticated decision at least half the rate of the one-query floor. */
const P2_TARGET = 0.5;

interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
}

const AUTOCANNON = path.join(repoRoot, 'node_modules', '.bin', 'autocannon');

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

async function rps(t: Target, connections: number, seconds: number): Promise<{ rps: number; p99: number; errors: number }> {
  const headerArgs = Object.entries(t.headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]);
  const { stdout } = await promisify(execFile)(AUTOCANNON, ['-j', '-c', String(connections), '-d', String(seconds), ...headerArgs, t.url], {
    maxBuffer: 16 * 1024 * 1024,
  });
  const result = JSON.parse(stdout) as AutocannonResult;
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${t.name}: ${bad} of ${result.requests.total} requests failed (non-2xx ${result.non2xx}, errors ${result.errors})`);
  return { rps: result.requests.average, p99: result.latency.p99, errors: bad };
}

runBench({ connections: 10, seconds: 8, rounds: 3, warmupSeconds: 2, out: 'tmp/bench/api-decision.json' }, async (args, cleanup) => {
  const cluster = await startCluster({ tmpPrefix: 'fdwg-bench-api-' });
  cleanup.add('cluster', () => cluster.stop());
  const gate = await startGateOn(cluster.superuserUrl, { demoMessages: 200, logSink: () => {} });
  cleanup.add('gate', () => gate.close());

  // alice signs in, accepts the agreement and gets a gate token (device style, confirmed here).
  const { s: browser, csrf } = await signedInBrowser(gate, 'alice');
  const issued = { token: await deviceToken(gate, browser, csrf) };
  const me = await (await fetch(`${gate.url}/api/me`, { headers: { authorization: `Bearer ${issued.token}` } })).text();
  if (!me.includes('"alice"')) throw new Error(`the token does not work: ${me.slice(0, 200)}`);

  // The floors: the same JSON from a bare route, and with one prepared, indexed query first.
  const pool = createPool(gate.controlUrl, 10);
  cleanup.add('pool', () => pool.end());
  const bare = new Hono();
  bare.get('/bare', (c) => c.json(JSON.parse(me)));
  const indexed: pg.QueryConfig = { name: 'floor_one_indexed', text: 'SELECT id, username, role_name FROM analysts WHERE username = $1', values: ['alice'] };
  bare.get('/query', async (c) => {
    const { rows } = await pool.query(indexed);
    if (rows.length !== 1) throw new Error('no alice');
    return c.json(JSON.parse(me));
  });
  const port = await freePort();
  const server = serve({ fetch: bare.fetch, port, hostname: '127.0.0.1' });
  cleanup.add('floor server', () => new Promise<void>((r) => server.close(() => r())));

  const targets: Target[] = [
    { name: 'gate /api/me, token', url: `${gate.url}/api/me`, headers: { authorization: `Bearer ${issued.token}` } },
    { name: 'gate /api/me, cookie', url: `${gate.url}/api/me`, headers: { cookie: `fdwg-session=${browser.cookie('localhost', 'fdwg-session')}` } },
    { name: 'bare route', url: `http://127.0.0.1:${port}/bare`, headers: {} },
    { name: 'bare route + 1 query', url: `http://127.0.0.1:${port}/query`, headers: {} },
  ];
  const loadBefore = os.loadavg();
  const samples: Record<string, number[]> = Object.fromEntries(targets.map((t) => [t.name, []]));
  const p99s: Record<string, number[]> = Object.fromEntries(targets.map((t) => [t.name, []]));
  // Untimed, every target alike: the first seconds of a target pay for opening its pool's
  // connections, preparing its statements and compiling its path, which the rounds are not about
  // (round 1 of the gate, run cold, came out 30-60 % below its later rounds).
  if (args.warmupSeconds > 0) {
    for (const t of targets) await rps(t, args.connections, args.warmupSeconds);
  }
  for (let round = 0; round < args.rounds; round++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(round + k) % targets.length]!;
      const r = await rps(t, args.connections, args.seconds);
      samples[t.name]!.push(r.rps);
      p99s[t.name]!.push(r.p99);
      process.stderr.write(`  round ${round + 1}: ${t.name} ${r.rps.toFixed(0)} req/s\n`);
    }
  }
  const med = (name: string) => median([...samples[name]!].sort((a, b) => a - b));
  const floorBare = med('bare route');
  const floorQuery = med('bare route + 1 query');
  say(`API decision throughput, ${args.connections} connections, ${args.seconds} s x ${args.rounds} rounds (median of rounds):`);
  say(
    formatTable(
      ['target', 'req/s', 'p99 ms', 'vs bare', 'vs bare+query'],
      targets.map((t) => [
        t.name,
        med(t.name).toFixed(0),
        median([...p99s[t.name]!].sort((a, b) => a - b)).toFixed(1),
        (med(t.name) / floorBare).toFixed(2),
        (med(t.name) / floorQuery).toFixed(2),
      ]),
    ),
  );
  // Rates: the ratio is result / floor, so higher is better and the target is a minimum.
  const figures: Figure[] = (['token', 'cookie'] as const).map((how) => {
    const result = med(`gate /api/me, ${how}`);
    return {
      figure: `P2: GET /api/me with a ${how === 'token' ? 'gate token' : 'session cookie'}, ${args.connections} connections (ratio: result / floor rate)`,
      result,
      floor: floorQuery,
      unit: 'req/s',
      ratio: result / floorQuery,
      target: `>= ${P2_TARGET}`,
      pass: result / floorQuery >= P2_TARGET,
    };
  });
  for (const f of figures) say(`${f.figure}: ${f.ratio!.toFixed(2)} of the floor, target ${f.target}: ${f.pass ? 'PASS' : 'FAIL'}`);
  say(`Load average before/after: ${loadBefore.map((x) => x.toFixed(2)).join(' ')} / ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs`);
  say(`results: ${writeJson(args.out, { bench: 'api-decision', figures, environment: environment(), args, loadavgBefore: loadBefore, samples, p99s })}`);
  return 0;
});
