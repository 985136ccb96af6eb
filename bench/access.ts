// Bench of issue 12 (authorization in one place):
// 1. What the access check costs a request: the same no-op route without a guard and with one, in
//    one process, one run, interleaved (batches of in-process `app.request`, the gate's own
//    services behind it). Guards measured: a rule of standing only (`me.read`, `audit.read`), a rule
//    that reads the agreement (`credentials.issue`: one prepared query), and a refusal that is
//    recorded (`audit.read` refused: one coalesced upsert per request, an event once a minute).
// 2. The route-walking security suite's size: routes x personas checked and unexpected answers
//    (must be 0), walked against a real gate as test/security-routes.test.ts does.
//
//   npx tsx bench/access.ts [--batch 200] [--iterations 40] [--warmup 5] [--out tmp/bench/access.json]
import { type Context, Hono } from 'hono';
import { guard } from '../src/access/guard.js';
import type { Identity } from '../src/auth/identity.js';
import { classifyUnexpected, errorBody } from '../src/errors.js';
import type { AppEnv } from '../src/types.js';
import { startGateOn } from '../test/support/gate-core.js';
import { personas } from '../test/support/personas.js';
import { gateRoutes, walkRoutes } from '../test/support/route-walk.js';
import { controlRows } from '../test/support/seed.js';
import { type Figure, environment, figure, formatFigures, formatTable, median, runBench, runInterleaved, startCluster, writeJson } from './lib.js';

const say = (s = '') => process.stdout.write(`${s}\n`);

runBench({ batch: 200, iterations: 40, warmup: 5, out: 'tmp/bench/access.json' }, async (args, cleanup) => {
  const cluster = await startCluster({ tmpPrefix: 'fdwg-bench-access-' });
  cleanup.add('cluster', () => cluster.stop());
  const gate = await startGateOn(cluster.superuserUrl, { demoMessages: 200, logSink: () => {}, config: { cliPollSeconds: 1 } });
  cleanup.add('gate', () => gate.close());

  // --- 2. The walk (first: it signs everyone in, alice with the agreement accepted) -------------
  const people = await personas(gate);
  const routes = gateRoutes(gate);
  const t0 = performance.now();
  const checks = await walkRoutes(gate, people, routes);
  const walkMs = performance.now() - t0;
  const unexpected = checks.filter((c) => !c.ok);
  const refused = checks.filter((c) => !('passes' in c.expected)).length;

  // --- 1. The check per request ------------------------------------------------------------------
  const who = (username: string, groups: string[]): Identity => ({ sub: username, username, email: null, name: null, groups });
  const identities: Record<string, Identity> = { alice: who('alice', ['fdwg']), carol: who('carol', ['fdwg-auditors']) };
  const app = new Hono<AppEnv>();
  app.use('*', async (c, next) => {
    c.set('services', gate.services);
    c.set('requestId', 'bench');
    c.set('identity', identities[c.req.header('x-who') ?? ''] ?? null);
    await next();
  });
  const noop = (c: Context<AppEnv>) => c.json({ ok: true });
  app.get('/bare', noop);
  // hono's own cost of one more handler in the chain, apart from what the check does.
  app.get('/empty', async (_c, next) => {
    await next();
  }, noop);
  app.get('/me', guard('me.read'), noop);
  app.get('/audit', guard('audit.read'), noop);
  app.get('/issue', guard('credentials.issue'), noop);
  app.onError((err, c) => {
    const e = classifyUnexpected(err);
    return c.json(errorBody(e), e.status);
  });
  const call = (path: string, as: string, status: number) => async () => {
    for (let i = 0; i < args.batch; i++) {
      const res = await app.request(path, { headers: { 'x-who': as } });
      if (res.status !== status) throw new Error(`${path} as ${as}: ${res.status} ${await res.text()}`);
    }
  };
  const cases = [
    { name: 'no guard', run: call('/bare', 'alice', 200) },
    { name: 'an empty middleware', run: call('/empty', 'alice', 200) },
    { name: 'guard me.read (signed in)', run: call('/me', 'alice', 200) },
    { name: 'guard audit.read (auditor)', run: call('/audit', 'carol', 200) },
    { name: 'guard credentials.issue (agreement read)', run: call('/issue', 'alice', 200) },
    { name: 'audit.read refused, recorded', run: call('/audit', 'alice', 403) },
  ];
  const result = await runInterleaved(cases, {
    warmup: args.warmup,
    iterations: args.iterations,
    onProgress: (done, total) => process.stderr.write(`\r  ${done}/${total}`),
  });
  process.stderr.write('\n');
  const perRequestUs = (name: string) => (median([...result.samples[name]!].sort((a, b) => a - b)) * 1000) / args.batch;
  const bare = perRequestUs('no guard');
  const [denials] = await controlRows<{ n: number; events: number }>(
    gate,
    `SELECT sum(count)::int AS n, count(*)::int AS events FROM access_denials WHERE actor = 'alice' AND action = 'audit.read'`,
  );

  say(`Access check per request (in-process app.request, batches of ${args.batch}, median of ${args.iterations} interleaved rounds):`);
  say(
    formatTable(
      ['route', 'µs/request', 'added by the check µs'],
      cases.map((c) => [c.name, perRequestUs(c.name).toFixed(1), c.name === 'no guard' ? '-' : (perRequestUs(c.name) - bare).toFixed(1)]),
    ),
  );
  say(`  refusals recorded in the run: ${denials?.n ?? 0}, chained access.denied events for them: ${denials?.events ?? 0} (one per minute)`);
  say();
  say(`Route walk: ${routes.length} routes x ${people.length} personas = ${checks.length} answers checked (${refused} refusals expected), ${unexpected.length} unexpected, ${(walkMs / 1000).toFixed(1)} s`);
  for (const c of unexpected) say(`  unexpected: ${c.route.method} ${c.route.path} as ${c.persona}: ${c.status}`);
  // The route without a guard is every guard's floor; no target was set (issue 12): information.
  const figures: Figure[] = [
    ...cases
      .filter((c) => c.name !== 'no guard')
      .map((c) => figure({ figure: `per request, ${c.name} (info)`, result: perRequestUs(c.name), floor: bare, unit: 'µs' })),
    figure({ figure: `route walk, ${checks.length} answers: unexpected`, result: unexpected.length, floor: null, unit: 'answers', target: { below: 1 } }),
  ];
  say();
  say(formatFigures(figures));
  say(
    `results: ${writeJson(args.out, {
      environment: environment(),
      args,
      figures,
      perRequestUs: Object.fromEntries(cases.map((c) => [c.name, perRequestUs(c.name)])),
      samples: result.samples,
      walk: { routes: routes.length, personas: people.map((p) => p.name), checked: checks.length, refusalsExpected: refused, unexpected: unexpected.length, ms: walkMs },
    })}`,
  );
  return unexpected.length === 0 ? 0 : 1;
});
