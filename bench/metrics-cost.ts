// Bench of issue 16: what metrics cost a request. The P2 request (`GET /api/me` with a gate token)
// on the same gate (same services, pools and database), built once without metrics and once with
// Node's metrics (prom-client: a counter and a histogram observed per request, by route pattern
// and status), measured in one run two ways:
//   1. in-process, interleaved batches of `app.request` (no sockets: the overhead stands out most);
//   2. over HTTP with autocannon as its own process, the two servers alternating rounds (P2's way);
//   3. the metrics work alone (what the middleware adds: routePath plus observeRequest), timed in a
//      tight loop, as a share of the request without metrics: the figure that a loaded machine
//      (other processes on the 2 cores) blurs least.
// Target: with metrics at most 5 % slower (ratio <= 1.05 in time, >= 0.95 in req/s). A scrape of
// /metrics is timed too (information: Prometheus asks every 15-30 s, not per request).
//
//   npx tsx bench/metrics-cost.ts [--batch 200] [--iterations 30] [--warmup 5] [--connections 10] [--seconds 5] [--rounds 3] [--out tmp/bench/metrics-cost.json]
import { serve } from '@hono/node-server';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { createApp } from '../src/app.js';
import { createLogger } from '../src/log.js';
import { createNodeMetrics } from '../src/metrics/node.js';
import { startGateOn } from '../test/support/gate-core.js';
import { deviceToken, signedInBrowser } from '../test/support/personas.js';
import { type Figure, environment, figure, formatFigures, formatTable, freePort, median, repoRoot, runBench, runInterleaved, startCluster, writeJson } from './lib.js';

const say = (s = '') => process.stdout.write(`${s}\n`);
const AUTOCANNON = path.join(repoRoot, 'node_modules', '.bin', 'autocannon');
const METRICS_TOKEN = 'bench-metrics-token-0123456789-0123456789';

async function autocannonRps(url: string, headers: Record<string, string>, connections: number, seconds: number): Promise<number> {
  const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]);
  const { stdout } = await promisify(execFile)(AUTOCANNON, ['-j', '-c', String(connections), '-d', String(seconds), ...h, url], { maxBuffer: 16 * 1024 * 1024 });
  const r = JSON.parse(stdout) as { requests: { average: number; total: number }; non2xx: number; errors: number; timeouts: number };
  const bad = r.non2xx + r.errors + r.timeouts;
  if (bad > 0) throw new Error(`${url}: ${bad} of ${r.requests.total} requests failed`);
  return r.requests.average;
}

runBench({ batch: 25, iterations: 40, warmup: 5, connections: 10, seconds: 4, rounds: 3, out: 'tmp/bench/metrics-cost.json' }, async (args, cleanup) => {
  const cluster = await startCluster({ tmpPrefix: 'fdwg-bench-metrics-' });
  cleanup.add('cluster', () => cluster.stop());
  const gate = await startGateOn(cluster.superuserUrl, { demoMessages: 200, logSink: () => {} });
  cleanup.add('gate', () => gate.close());

  // alice signs in, accepts the agreement and gets a gate token (as P2 does).
  const { s: browser, csrf } = await signedInBrowser(gate, 'alice');
  const token = await deviceToken(gate, browser, csrf);
  const auth = { authorization: `Bearer ${token}` };

  // The same gate twice: the serving gate's logger (discarding, as the harness does) in both.
  const logger = createLogger('info', () => {});
  const base = { config: { ...gate.config, metricsToken: METRICS_TOKEN }, policy: gate.policy, controlPool: gate.controlPool, warehousePool: gate.warehousePool, logger };
  const plain = createApp(base, gate.services);
  const metrics = createNodeMetrics();
  const measured = createApp({ ...base, metrics }, gate.services);

  // --- 1. In-process ------------------------------------------------------------------------------
  const batch = (app: typeof plain) => async () => {
    for (let i = 0; i < args.batch; i++) {
      const r = await app.request(`${gate.url}/api/me`, { headers: auth });
      if (r.status !== 200) throw new Error(`/api/me: ${r.status}`);
      await r.arrayBuffer();
    }
  };
  const cases = [
    { name: 'without metrics', run: batch(plain) },
    { name: 'with metrics', run: batch(measured) },
  ];
  const result = await runInterleaved(cases, { warmup: args.warmup, iterations: args.iterations, onProgress: (d, t) => process.stderr.write(`\r  in-process ${d}/${t}`) });
  process.stderr.write('\n');
  const perRequestUs = (name: string) => (median([...result.samples[name]!].sort((a, b) => a - b)) * 1000) / args.batch;

  // --- 2. Over HTTP (P2) ------------------------------------------------------------------------
  const ports = { plain: await freePort(), measured: await freePort() };
  const servers = [serve({ fetch: plain.fetch, port: ports.plain, hostname: '127.0.0.1' }), serve({ fetch: measured.fetch, port: ports.measured, hostname: '127.0.0.1' })];
  cleanup.add('servers', () => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => {}));
  const targets = [
    { name: 'without metrics', url: `http://127.0.0.1:${ports.plain}/api/me` },
    { name: 'with metrics', url: `http://127.0.0.1:${ports.measured}/api/me` },
  ];
  const rps: Record<string, number[]> = { 'without metrics': [], 'with metrics': [] };
  for (let round = 0; round < args.rounds; round++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(round + k) % targets.length]!;
      const r = await autocannonRps(t.url, auth, args.connections, args.seconds);
      rps[t.name]!.push(r);
      process.stderr.write(`  round ${round + 1}: ${t.name} ${r.toFixed(0)} req/s\n`);
    }
  }
  const medRps = (name: string) => median([...rps[name]!].sort((a, b) => a - b));

  // --- 3. The metrics work alone ---------------------------------------------------------------
  const alone = createNodeMetrics({ defaultMetrics: false });
  const routes = ['/api/me', '/api/credentials', '/api/requests', '*'];
  const N = 200_000;
  for (let i = 0; i < 20_000; i++) alone.observeRequest('GET', routes[i % 4]!, 200, 0.003);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) alone.observeRequest('GET', routes[i % 4]!, i % 7 === 0 ? 404 : 200, (i % 50) / 1000);
  const observeUs = ((performance.now() - t0) * 1000) / N;

  // --- A scrape -------------------------------------------------------------------------------
  const scrapes: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    const r = await measured.request(`${gate.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    const text = await r.text();
    if (r.status !== 200 || !/fdwg_http_requests_total\{/.test(text)) throw new Error(`scrape: ${r.status}`);
    scrapes.push(performance.now() - t0);
  }
  const scrapeMs = median(scrapes.sort((a, b) => a - b));

  say(`GET /api/me with a gate token, without and with metrics (same gate, same run):`);
  say(
    formatTable(
      ['measure', 'without metrics', 'with metrics', 'ratio'],
      [
        ['in-process µs/request (median batch)', perRequestUs('without metrics').toFixed(1), perRequestUs('with metrics').toFixed(1), (perRequestUs('with metrics') / perRequestUs('without metrics')).toFixed(3)],
        [`HTTP req/s (autocannon, ${args.connections} conn, median of ${args.rounds})`, medRps('without metrics').toFixed(0), medRps('with metrics').toFixed(0), (medRps('with metrics') / medRps('without metrics')).toFixed(3)],
      ],
    ),
  );
  say(`  metrics work alone (observeRequest: a counter and a histogram by method, route, status): ${observeUs.toFixed(2)} µs per request`);
  say(`  one /metrics scrape: ${scrapeMs.toFixed(1)} ms (median of ${scrapes.length})`);
  const figures: Figure[] = [
    figure({ figure: 'GET /api/me in-process with metrics (floor: without)', result: perRequestUs('with metrics'), floor: perRequestUs('without metrics'), unit: 'µs', target: { ratioAtMost: 1.05 } }),
    figure({ figure: 'GET /api/me req/s with metrics (floor: without; ratio is a rate)', result: medRps('with metrics'), floor: medRps('without metrics'), unit: 'req/s', target: { ratioAtLeast: 0.95 } }),
    figure({ figure: 'GET /api/me plus the metrics work alone (floor: without)', result: perRequestUs('without metrics') + observeUs, floor: perRequestUs('without metrics'), unit: 'µs', target: { ratioAtMost: 1.05 } }),
    figure({ figure: 'one /metrics scrape (info)', result: scrapeMs, floor: null, unit: 'ms' }),
  ];
  say();
  say(formatFigures(figures));
  say(`results: ${writeJson(args.out, { environment: environment(), args, figures, perRequestUs: { without: perRequestUs('without metrics'), with: perRequestUs('with metrics') }, observeUs, samples: result.samples, rps, scrapes })}`);
  return figures.every((f) => f.pass !== false) ? 0 : 1;
});
