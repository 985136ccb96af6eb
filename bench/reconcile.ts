// Bench: the reconciler at 1,000 analysts and 100 / 500 governed tables. Figures, each next to a
// floor measured in the same run (one catalog round trip, `SELECT count(*) FROM pg_roles`):
//
//   first   the first apply as a superuser (every table grant, every membership, leak guard over
//           the empty tables): PASS when < 10 s at 500 tables.
//   no-op   a reconcile with nothing to do: plan as the gate, plan as a superuser (with the leak
//           guard), and the gate's scheduled apply (lock + audit check): PASS when p95 < 1 s.
//   per-analyst  a gate apply that grants all 1,000 analysts their tier membership (the gate
//           revokes it first, untimed: the same GRANT <tier> TO ... step as for new analysts)
//           minus the fixed part, no-op applies in the same state right before and after; / 1,000,
//           median of 25 rounds, at 100 and at 500 tables. The analyst count, and so the fixed
//           part, stays put. Grants go to group roles, so it must not grow with the number of
//           tables; the analysts' own table ACL entries are counted too (0). For information:
//           5 rounds of 200 new analysts (fixed part right after, at the same count), the former
//           method on those (fixed part = the no-op measured before any was added), and the
//           standing cost (how much every no-op apply grows per analyst, least-squares slope).
//
// Each table count has its own cluster (pg_authid and pg_auth_members are shared by a whole
// cluster, so one would also carry the other's roles), and their per-analyst rounds take turns in
// an order that flips each round, so neither count always runs first or last in the process.
//
//   npm run bench:reconcile -- [--analysts 1000] [--tables 100,500] [--iterations 20] [--warmup 3]
//                              [--rounds 25] [--out tmp/bench/reconcile.json]
// Exit code: 0 when the run completes (PASS/FAIL is a figure), 1 on any error.
import path from 'node:path';
import pg from 'pg';
import { createPool } from '../src/db/client.js';
import { prepareDatabases, urlWith } from '../src/node/databases.js';
import { loadPolicy } from '../src/policy/load.js';
import { analystRoleSettings, datasetRole, managedRoles } from '../src/provisioner/roles.js';
import { quoteIdent, quoteLiteral } from '../src/provisioner/sql.js';
import { reconcile } from '../src/reconcile/apply.js';
import {
  Cleanup,
  type Figure,
  environment,
  figure,
  fmtMs,
  formatFigures,
  formatTable,
  runBench,
  repoRoot,
  runInterleaved,
  startCluster,
  summarize,
  writeJson,
} from './lib.js';

const defaults = { analysts: 1000, tables: '100,500', iterations: 20, warmup: 3, rounds: 25, out: 'tmp/bench/reconcile.json' };
let args = defaults;
const policy = loadPolicy(path.resolve(repoRoot, 'policies'));
const say = (s: string) => process.stdout.write(`${s}\n`);

async function scenario(superuserUrl: string, tables: number, cleanup: Cleanup) {
  say(`Setting up: ${args.analysts} analysts, ${tables} pseudonymized tables (own cluster)...`);
  const prefix = `b${tables}_`;
  const gatePassword = `gate-${Date.now()}-${tables}`;
  const { controlUrl, warehouseUrl } = await prepareDatabases({
    superuserUrl,
    controlDatabase: `bench_control_${tables}`,
    warehouseDatabase: `bench_warehouse_${tables}`,
    prefix,
    gatePassword,
    policy,
  });
  const dbaUrl = urlWith(superuserUrl, `bench_warehouse_${tables}`);
  const controlAdminUrl = urlWith(superuserUrl, `bench_control_${tables}`);
  const roles = managedRoles(prefix);
  const su = new pg.Client({ connectionString: dbaUrl });
  const ctl = new pg.Client({ connectionString: controlAdminUrl });
  const gateClient = new pg.Client({ connectionString: warehouseUrl });
  // A client that loses its server between queries emits 'error', which would kill the process:
  // when a round fails, Cleanup stops the clusters (fast shutdown: "terminating connection due to
  // administrator command") under clients still open, and the crash hid the round's own error.
  for (const [name, c] of [['superuser (warehouse)', su], ['superuser (control)', ctl], ['gate', gateClient]] as const) {
    c.on('error', (err) => process.stderr.write(`bench: ${tables} tables: ${name} connection lost: ${err.message}\n`));
  }
  await Promise.all([su.connect(), ctl.connect(), gateClient.connect()]);

  // Governed tables (empty: the leak guard still describes and samples each one).
  await su.query(`CREATE TABLE IF NOT EXISTS pii.users (pseudonym text PRIMARY KEY, username text, email text);
                  CREATE TABLE IF NOT EXISTS pii.message_text (msg_id text, body text)`);
  await su.query(`DO $$ BEGIN FOR i IN 1..${tables} LOOP
                    EXECUTE format('CREATE TABLE pseudonymized.t_%s (id int PRIMARY KEY, topic text, headers jsonb)', i);
                  END LOOP; END $$`);
  // The provisioner gives a new role the gate's per-role settings when it creates it; without them
  // the reconciler repairs two settings per role as drift. The first batch goes without (the first
  // apply repairs them, as on a warehouse whose roles predate the settings); new analysts get them
  // like the provisioner gives them, so their timed apply is the tier grant alone.
  const settings = Object.entries(analystRoleSettings(policy.credentials));
  const addAnalysts = async (from: number, count: number, opts: { withSettings: boolean }) => {
    const names = Array.from({ length: count }, (_, k) => `a${from + k}`);
    await ctl.query(`INSERT INTO analysts (username, subject, role_name) SELECT n, n, $2 || n FROM unnest($1::text[]) n`, [names, prefix]);
    // Created by the gate, as the provisioner does: the gate then administers them.
    await gateClient.query(
      names
        .flatMap((n) => {
          const role = quoteIdent(`${prefix}${n}`);
          return [`CREATE ROLE ${role} NOLOGIN`, ...(opts.withSettings ? settings.map(([k, v]) => `ALTER ROLE ${role} SET ${quoteIdent(k)} = ${quoteLiteral(v)}`) : [])];
        })
        .join(';'),
    );
    return names;
  };
  const first = await addAnalysts(0, args.analysts, { withSettings: false });
  // 5% hold a live credential, 10% a live PII grant.
  const live = first.filter((_, i) => i % 20 === 0);
  await gateClient.query(live.map((n) => `ALTER ROLE "${prefix}${n}" LOGIN`).join(';'));
  await ctl.query(
    `INSERT INTO credentials (analyst_id, role_name, issued_at, expires_at)
     SELECT id, role_name, now(), now() + interval '8 hours' FROM analysts WHERE username = ANY($1)`,
    [live],
  );
  const granted = first.filter((_, i) => i % 10 === 0);
  await ctl.query(
    `WITH r AS (INSERT INTO pii_requests (analyst_id, datasets, purpose, duration_seconds, state, review_deadline, approvals_required)
                SELECT id, ARRAY['maintainer_identities'], 'bench purpose, long enough for the policy minimum', 3600, 'approved', now() + interval '1 day', 1
                  FROM analysts WHERE username = ANY($1) RETURNING id, analyst_id)
     INSERT INTO pii_grants (request_id, analyst_id, role_name, dataset, group_role, starts_at, expires_at)
     SELECT r.id, r.analyst_id, a.role_name, 'maintainer_identities', $2, now(), now() + interval '1 day' FROM r JOIN analysts a ON a.id = r.analyst_id`,
    [granted, datasetRole(prefix, 'maintainer_identities')],
  );

  const dba = createPool(dbaUrl, 2);
  const gate = createPool(warehouseUrl, 2);
  const control = createPool(controlUrl, 2);
  // Closed before the cluster stops (Cleanup runs steps in reverse), also when a round throws.
  let closing: Promise<unknown> | undefined;
  const close = () => (closing ??= Promise.allSettled([dba.end(), gate.end(), control.end(), su.end(), ctl.end(), gateClient.end()]));
  cleanup.add(`connections ${tables}`, close);
  const deps = (warehouse: pg.Pool) => ({ policy, prefix, warehouse, control });

  const t0 = performance.now();
  const firstApply = await reconcile(deps(dba), { apply: true });
  const firstMs = performance.now() - t0;
  const after = await reconcile(deps(dba));
  if (after.steps.length !== 0) throw new Error(`the plan after the first apply is not empty: ${after.steps[0]?.sql}`);

  const reported = new Set<string>();
  const noopCases = async () =>
    (
      await runInterleaved(
        [
          { name: 'floor: catalog round trip', run: () => gate.query('SELECT count(*) FROM pg_roles') },
          { name: 'no-op plan as gate', run: () => reconcile(deps(gate)), check: (r) => assertEmpty(r) },
          { name: 'no-op plan as DBA + leak guard', run: () => reconcile(deps(dba)), check: (r) => assertEmpty(r) },
          { name: 'no-op scheduled apply (gate)', run: () => reconcile(deps(gate), { apply: true, tryLock: true, reported }), check: (r) => assertEmpty(r) },
        ],
        { warmup: args.warmup, iterations: args.iterations },
      )
    ).samples;

  // Per-analyst cost: the time of a gate apply that grants k analysts their tier membership, minus
  // the fixed part of a run. The fixed part (inspecting catalogs that grow with the tables and the
  // analysts) is no-op applies in the very same state, right before and right after: a no-op
  // measured once before analysts are added is short of every analyst added since, and one apply
  // is a single sample, so the median of many rounds keeps a noisy neighbour out of it.
  const gateApply = async () => {
    const t = performance.now();
    const r = await reconcile(deps(gate), { apply: true });
    return { r, ms: performance.now() - t };
  };
  const noops = async (n: number) => {
    const out: number[] = [];
    for (let k = 0; k < n; k++) {
      const { r, ms } = await gateApply();
      assertEmpty(r);
      out.push(ms);
    }
    return out;
  };
  const expectApplied = (r: Awaited<ReturnType<typeof reconcile>>, n: number) => {
    if (r.applied.length === n && r.pending.length === 0) return;
    // Which statements came in addition names the change that made them (a new drift check, say).
    const kinds = new Map<string, number>();
    for (const s of [...r.applied, ...r.pending]) {
      const kind = s.sql.split(' ').slice(0, 2).join(' ');
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    throw new Error(`expected ${n} gate steps, got ${r.applied.length} (+${r.pending.length} pending): ${[...kinds].map(([k, c]) => `${c} x ${k}`).join(', ')}`);
  };

  // (a) The figure: at the stated analyst count, every analyst loses the membership (the gate
  // granted it, so the gate revokes it, untimed) and the timed apply grants it back: the same plan
  // step, GRANT <tier> TO ..., as for a new analyst, while the analyst count, and so the fixed
  // part, stays put from round to round. All of them per sample, so the signal stands well above
  // the jitter of the fixed part (which is larger with more tables).
  const regrantNames = first.map((n) => `"${prefix}${n}"`).join(', ');
  const regrantRound = async () => {
    const before = await noops(2);
    await gateClient.query(`REVOKE "${roles.pseudonymized}" FROM ${regrantNames} GRANTED BY "${roles.gate}"`);
    const { r, ms } = await gateApply();
    expectApplied(r, first.length);
    const fixed = summarize([...before, ...(await noops(2))]).median;
    return { msPerAnalyst: (ms - fixed) / first.length, fixed };
  };

  // (b) For information: new analysts (control rows and roles made untimed, as the provisioner
  // does), each batch applied by the gate, the fixed part measured right after at the same count.
  // Also gives the standing cost: how much every run grows per analyst (least-squares slope).
  let analystCount = args.analysts;
  const growthRound = async (count: number, noopBefore: number) => {
    await addAnalysts(analystCount, count, { withSettings: true });
    analystCount += count;
    const { r, ms } = await gateApply();
    expectApplied(r, count);
    const fixed = summarize(await noops(3)).median;
    return { msPerAnalyst: (ms - fixed) / count, againstNoopBefore: (ms - noopBefore) / count, analysts: analystCount, fixed };
  };

  const finish = async () => {
    const acl = await su.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee::regrole::text LIKE $1`,
      [`"${prefix}a%`],
    );
    const groupAcl = await su.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = $1::regrole`, [roles.pseudonymized]);
    await close();
    return { tableAclEntriesOfAnalysts: acl.rows[0]!.n, tableAclEntriesOfPseudonymizedGroup: groupAcl.rows[0]!.n };
  };

  return {
    tables,
    firstApply: { ms: firstMs, steps: firstApply.applied.length, leakGuard: firstApply.leakGuard.ran },
    noopCases,
    regrantRound,
    growthRound,
    finish,
  };
}

async function measure(scenarios: Array<Awaited<ReturnType<typeof scenario>>>) {
  const noop = new Map<number, Record<string, number[]>>();
  for (const s of scenarios) {
    say(`No-op cases at ${s.tables} tables...`);
    noop.set(s.tables, await s.noopCases());
  }
  // The rounds of every table count take turns, in an order that flips each round: the Node process
  // (heap, JIT) and the machine drift from minute to minute; run one after the other, the count
  // that always goes second would carry that drift alone.
  const turns = (i: number) => (i % 2 === 0 ? scenarios : [...scenarios].reverse());
  const rounds = Math.max(1, Math.trunc(args.rounds));
  const regrant = new Map(scenarios.map((s) => [s.tables, [] as Array<{ msPerAnalyst: number; fixed: number }>]));
  say(`Per-analyst rounds (${rounds} x ${args.analysts} memberships, table counts taking turns)...`);
  for (let i = 0; i < rounds; i++) for (const s of turns(i)) regrant.get(s.tables)!.push(await s.regrantRound());
  const growthRounds = 5;
  const more = 200;
  const growth = new Map(scenarios.map((s) => [s.tables, [] as Array<Awaited<ReturnType<typeof s.growthRound>>>]));
  for (let i = 0; i < growthRounds; i++) {
    for (const s of turns(i)) growth.get(s.tables)!.push(await s.growthRound(more, summarize(noop.get(s.tables)!['no-op scheduled apply (gate)']!).median));
  }
  const results = [];
  for (const s of scenarios) {
    const reg = regrant.get(s.tables)!;
    const gro = growth.get(s.tables)!;
    const samples = noop.get(s.tables)!;
    const standing = [{ analysts: args.analysts, noopMs: summarize(reg.map((r) => r.fixed)).median }, ...gro.map((g) => ({ analysts: g.analysts, noopMs: g.fixed }))];
    results.push({
      tables: s.tables,
      analysts: args.analysts,
      firstApply: s.firstApply,
      noop: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)])),
      perAnalyst: { analystsPerRound: args.analysts, rounds, samples: reg.map((r) => r.msPerAnalyst), msPerAnalyst: summarize(reg.map((r) => r.msPerAnalyst)).median },
      newAnalysts: {
        analystsPerRound: more,
        rounds: growthRounds,
        samples: gro.map((g) => g.msPerAnalyst),
        msPerAnalyst: summarize(gro.map((g) => g.msPerAnalyst)).median,
        againstNoopBefore: gro.map((g) => g.againstNoopBefore),
        againstNoopBeforeMedian: summarize(gro.map((g) => g.againstNoopBefore)).median,
        standing,
        standingMsPerAnalyst: slope(standing.map((p) => [p.analysts, p.noopMs])),
      },
      ...(await s.finish()),
    });
  }
  return results;
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return sxx === 0 ? Number.NaN : sxy / sxx;
}

function assertEmpty(r: unknown) {
  const res = r as { steps: unknown[]; skipped?: string };
  if (res.skipped) throw new Error('skipped: lock held');
  if (res.steps.length !== 0) throw new Error('no-op reconcile planned steps');
}

async function run(parsed: typeof defaults, cleanup: Cleanup): Promise<number> {
  args = parsed;
  const scenarios = [];
  for (const t of String(args.tables).split(',').map(Number)) {
    // Its own cluster: pg_authid and pg_auth_members are shared by a whole cluster.
    const cluster = await startCluster({ tmpPrefix: 'fdwg-bench-reconcile-' });
    cleanup.add(`cluster ${t}`, () => cluster.stop());
    scenarios.push(await scenario(cluster.superuserUrl, t, cleanup));
  }
  const results = await measure(scenarios);
  say('');
  say(
    formatTable(
      ['tables', 'case', 'p50 ms', 'p95 ms', 'x floor (p50)'],
      results.flatMap((r) => {
        const floor = r.noop['floor: catalog round trip']!.median;
        return Object.entries(r.noop).map(([k, s]) => [String(r.tables), k, fmtMs(s.median), fmtMs(s.p95), (s.median / floor).toFixed(1)]);
      }),
    ),
  );
  say('');
  say(
    formatTable(
      ['tables', 'first apply ms', 'steps', 'x floor', `ms/analyst granted (median of ${results[0]!.perAnalyst.rounds} x ${results[0]!.perAnalyst.analystsPerRound})`, `new analysts (info, ${results[0]!.newAnalysts.rounds} x ${results[0]!.newAnalysts.analystsPerRound})`, 'standing ms/analyst/run', 'analyst table ACLs', 'group table ACLs'],
      results.map((r) => {
        const floor = r.noop['floor: catalog round trip']!.median;
        return [String(r.tables), fmtMs(r.firstApply.ms, 0), String(r.firstApply.steps), (r.firstApply.ms / floor).toFixed(0), fmtMs(r.perAnalyst.msPerAnalyst, 3), fmtMs(r.newAnalysts.msPerAnalyst, 3), fmtMs(r.newAnalysts.standingMsPerAnalyst, 4), String(r.tableAclEntriesOfAnalysts), String(r.tableAclEntriesOfPseudonymizedGroup)];
      }),
    ),
  );
  const big = results.at(-1)!;
  const worstNoop = Math.max(...Object.entries(big.noop).filter(([k]) => !k.startsWith('floor')).map(([, s]) => s.p95));
  const ratio = results.length > 1 ? big.perAnalyst.msPerAnalyst / results[0]!.perAnalyst.msPerAnalyst : Number.NaN;
  say('');
  say(`${worstNoop < 1000 ? 'PASS' : 'FAIL'} no-op reconcile at ${big.tables} tables: worst p95 ${fmtMs(worstNoop)} ms (< 1000 ms)`);
  say(`${big.firstApply.ms < 10_000 ? 'PASS' : 'FAIL'} first apply at ${big.tables} tables: ${fmtMs(big.firstApply.ms, 0)} ms (< 10000 ms)`);
  if (results.length > 1) {
    say(`${ratio < 1.5 ? 'PASS' : 'FAIL'} per-analyst cost ${results[0]!.tables} -> ${big.tables} tables: x${ratio.toFixed(2)} (< 1.5; analysts hold no table ACL entries)`);
    const info = (label: string, pick: (r: (typeof results)[number]) => number, digits = 3) =>
      say(`  (info) ${label}: ${results.map((r) => `${r.tables} tables ${pick(r).toFixed(digits)}`).join(', ')} ms, x${(pick(big) / pick(results[0]!)).toFixed(2)}`);
    say(`  per-round samples ms/analyst: ${results.map((r) => `${r.tables} tables: ${r.perAnalyst.samples.map((x) => x.toFixed(3)).join(' ')}`).join('; ')}`);
    info(`new analysts, ${big.newAnalysts.rounds} rounds of ${big.newAnalysts.analystsPerRound}, fixed part right after (5 samples: noisy)`, (r) => r.newAnalysts.msPerAnalyst);
    info(`former method on those rounds (fixed part = no-op measured before, at ${args.analysts} analysts; 5 samples)`, (r) => r.newAnalysts.againstNoopBeforeMedian);
    info('standing cost per analyst per no-op apply (slope over 6 points: noisy)', (r) => r.newAnalysts.standingMsPerAnalyst, 4);
  }
  const bigFloor = big.noop['floor: catalog round trip']!;
  const figures: Figure[] = [
    figure({ figure: `no-op reconcile, ${big.tables} tables, worst p95`, result: worstNoop, floor: bigFloor.p95, unit: 'ms', target: { below: 1000 } }),
    figure({ figure: `first apply, ${big.tables} tables`, result: big.firstApply.ms, floor: bigFloor.median, unit: 'ms', target: { below: 10_000 } }),
    ...(results.length > 1
      ? [
          figure({
            figure: `ms per analyst granted, ${big.tables} tables (floor: at ${results[0]!.tables})`,
            result: big.perAnalyst.msPerAnalyst,
            floor: results[0]!.perAnalyst.msPerAnalyst,
            unit: 'ms',
            target: { ratioAtMost: 1.5 },
          }),
        ]
      : []),
  ];
  say('');
  say(formatFigures(figures));
  const file = writeJson(args.out, { args, environment: environment(), figures, results });
  say(`Results: ${path.relative(process.cwd(), file)}`);
  return 0;
}

runBench(defaults, run);
