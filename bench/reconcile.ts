// Bench: the reconciler at 1,000 analysts and 100 / 500 governed tables. Figures, each next to a
// floor measured in the same run (one catalog round trip, `SELECT count(*) FROM pg_roles`):
//
//   first   the first apply as a superuser (every table grant, every membership, leak guard over
//           the empty tables): PASS when < 10 s at 500 tables.
//   no-op   a reconcile with nothing to do: plan as the gate, plan as a superuser (with the leak
//           guard), and the gate's scheduled apply (lock + audit check): PASS when p95 < 1 s.
//   per-analyst  200 more analysts applied by the gate, at 100 and at 500 tables: (that run minus
//           the no-op run's median) / 200. Grants go to group roles, so it must not grow with the
//           number of tables; the analysts' own table ACL entries are counted too (0).
//
//   npm run bench:reconcile -- [--analysts 1000] [--tables 100,500] [--iterations 20] [--warmup 3]
//                              [--out tmp/bench/reconcile.json]
// Exit code: 0 when the run completes (PASS/FAIL is a figure), 1 on any error.
import path from 'node:path';
import pg from 'pg';
import { createPool } from '../src/db/client.js';
import { prepareDatabases, urlWith } from '../src/node/databases.js';
import { loadPolicy } from '../src/policy/load.js';
import { datasetRole, managedRoles } from '../src/provisioner/roles.js';
import { reconcile } from '../src/reconcile/apply.js';
import { Cleanup, environment, fmtMs, formatTable, parseArgs, repoRoot, runInterleaved, startCluster, summarize, writeJson } from './lib.js';

const args = parseArgs({ analysts: 1000, tables: '100,500', iterations: 20, warmup: 3, out: 'tmp/bench/reconcile.json' });
const policy = loadPolicy(path.resolve(repoRoot, 'policies'));
const say = (s: string) => process.stdout.write(`${s}\n`);

async function scenario(superuserUrl: string, tables: number) {
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
  await Promise.all([su.connect(), ctl.connect(), gateClient.connect()]);

  // Governed tables (empty: the leak guard still describes and samples each one).
  await su.query(`CREATE TABLE IF NOT EXISTS pii.users (pseudonym text PRIMARY KEY, username text, email text);
                  CREATE TABLE IF NOT EXISTS pii.message_text (msg_id text, body text)`);
  await su.query(`DO $$ BEGIN FOR i IN 1..${tables} LOOP
                    EXECUTE format('CREATE TABLE pseudonymized.t_%s (id int PRIMARY KEY, topic text, headers jsonb)', i);
                  END LOOP; END $$`);
  const addAnalysts = async (from: number, count: number) => {
    const names = Array.from({ length: count }, (_, k) => `a${from + k}`);
    await ctl.query(`INSERT INTO analysts (username, subject, role_name) SELECT n, n, $2 || n FROM unnest($1::text[]) n`, [names, prefix]);
    // Created by the gate, as the provisioner does: the gate then administers them.
    await gateClient.query(names.map((n) => `CREATE ROLE "${prefix}${n}" NOLOGIN`).join(';'));
    return names;
  };
  const first = await addAnalysts(0, args.analysts);
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
  const deps = (warehouse: pg.Pool) => ({ policy, prefix, warehouse, control });

  const t0 = performance.now();
  const firstApply = await reconcile(deps(dba), { apply: true });
  const firstMs = performance.now() - t0;
  const after = await reconcile(deps(dba));
  if (after.steps.length !== 0) throw new Error(`the plan after the first apply is not empty: ${after.steps[0]?.sql}`);

  const reported = new Set<string>();
  const { samples } = await runInterleaved(
    [
      { name: 'floor: catalog round trip', run: () => gate.query('SELECT count(*) FROM pg_roles') },
      { name: 'no-op plan as gate', run: () => reconcile(deps(gate)), check: (r) => assertEmpty(r) },
      { name: 'no-op plan as DBA + leak guard', run: () => reconcile(deps(dba)), check: (r) => assertEmpty(r) },
      { name: 'no-op scheduled apply (gate)', run: () => reconcile(deps(gate), { apply: true, tryLock: true, reported }), check: (r) => assertEmpty(r) },
    ],
    { warmup: args.warmup, iterations: args.iterations },
  );

  // Per-analyst cost: rounds of 100 more analysts, each applied by the gate (memberships only);
  // one round is a single sample, so the median of several keeps a noisy neighbour out of it.
  const more = 100;
  const rounds = 5;
  const noopMedian = summarize(samples['no-op scheduled apply (gate)']!).median;
  const marginal: number[] = [];
  for (let i = 0; i < rounds; i++) {
    await addAnalysts(args.analysts + i * more, more);
    const t1 = performance.now();
    const added = await reconcile(deps(gate), { apply: true });
    const addMs = performance.now() - t1;
    if (added.applied.length !== more || added.pending.length !== 0) throw new Error(`expected ${more} gate steps, got ${added.applied.length} (+${added.pending.length} pending)`);
    marginal.push((addMs - noopMedian) / more);
  }
  const msPerAnalyst = [...marginal].sort((a, b) => a - b)[Math.floor(rounds / 2)]!;
  const acl = await su.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee::regrole::text LIKE $1`,
    [`"${prefix}a%`],
  );
  const groupAcl = await su.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = $1::regrole`, [roles.pseudonymized]);

  await Promise.allSettled([dba.end(), gate.end(), control.end(), su.end(), ctl.end(), gateClient.end()]);
  return {
    tables,
    analysts: args.analysts,
    firstApply: { ms: firstMs, steps: firstApply.applied.length, leakGuard: firstApply.leakGuard.ran },
    noop: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)])),
    // Marginal: the run's fixed part (inspecting catalogs that grow with the tables) is the no-op
    // scheduled apply measured above; what is left is what the added analysts cost.
    perAnalyst: { analystsPerRound: more, rounds, samples: marginal, msPerAnalyst },
    tableAclEntriesOfAnalysts: acl.rows[0]!.n,
    tableAclEntriesOfPseudonymizedGroup: groupAcl.rows[0]!.n,
  };
}

function assertEmpty(r: unknown) {
  const res = r as { steps: unknown[]; skipped?: string };
  if (res.skipped) throw new Error('skipped: lock held');
  if (res.steps.length !== 0) throw new Error('no-op reconcile planned steps');
}

async function main() {
  const cleanup = new Cleanup();
  try {
    const cluster = await startCluster({ tmpPrefix: 'fdwg-bench-reconcile-' });
    cleanup.add('cluster', () => cluster.stop());
    const results = [];
    for (const t of String(args.tables).split(',').map(Number)) {
      say(`Scenario: ${args.analysts} analysts, ${t} pseudonymized tables...`);
      results.push(await scenario(cluster.superuserUrl, t));
    }
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
        ['tables', 'first apply ms', 'steps', 'x floor', 'marginal ms/analyst (median of 5 x 100 added)', 'analyst table ACLs', 'group table ACLs'],
        results.map((r) => {
          const floor = r.noop['floor: catalog round trip']!.median;
          return [String(r.tables), fmtMs(r.firstApply.ms, 0), String(r.firstApply.steps), (r.firstApply.ms / floor).toFixed(0), fmtMs(r.perAnalyst.msPerAnalyst, 3), String(r.tableAclEntriesOfAnalysts), String(r.tableAclEntriesOfPseudonymizedGroup)];
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
    }
    const file = writeJson(args.out, { args, environment: environment(), results });
    say(`Results: ${path.relative(process.cwd(), file)}`);
  } finally {
    const failed = await cleanup.run();
    if (failed.length > 0) process.exitCode = 1;
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
