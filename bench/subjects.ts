// Bench (issue 15): the data-subject report and the cost of alert rules at ingestion.
//
//   report  one person's report over a year (SubjectReports.report: the audited subject.report
//           event, the warehouse lookup, grants, readers, reads naming them, alerts) on a control
//           database holding --events audit events over that year (a quarter of them pii.read, the
//           last 90 days with statement text) and --grants grants; p50/p95/p99, interleaved with
//           the floor (`SELECT 1` on the same pool). PASS when p95 < 200 ms.
//   alerts  pgaudit ingestion throughput (statements/s) of the same jsonlog, once without rules and
//           once with the policy's `alerts:` (request-in-force lookup in both), on that database;
//           the cost per statement is the difference. One run each, alternating halves.
//
//   npm run bench:subjects -- [--events 1000000] [--grants 10000] [--analysts 500] [--iterations 100]
//                            [--warmup 10] [--statements 20000] [--seed 20261123] [--out tmp/bench/subjects.json]
// (or `npx tsx bench/subjects.ts -- …`). Exit 0 when the run completes (PASS/FAIL is a figure), 1 on error.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { alertEvaluator } from '../src/alerts/evaluate.js';
import type { AuditAction } from '../src/audit/log.js';
import { ingestPgauditLogs } from '../src/audit/pgaudit-ingest.js';
import { requestInForceLookup } from '../src/audit/request-in-force.js';
import { controlDb } from '../src/db/client.js';
import { Prng } from '../src/demo/prng.js';
import { prepareDatabases, urlWith } from '../src/node/databases.js';
import { loadPolicy } from '../src/policy/load.js';
import { installSubjectLookup } from '../src/subjects/lookup.js';
import { REPORT_LIMITS, SubjectReports } from '../src/subjects/service.js';
import { grantsOverlapping, readCounts, readers, reads } from '../src/subjects/dal.js';
import { subjectPresence } from '../src/subjects/lookup.js';
import { EventGenerator, loadEvents } from './audit.js';
import { Cleanup, type Figure, environment, figure, fmtMs, formatFigures, repoRoot, runBench, runInterleaved, startCluster, summarize, writeJson, rerunCommand } from './lib.js';

const defaults = {
  events: 1_000_000,
  grants: 10_000,
  analysts: 500,
  iterations: 100,
  warmup: 10,
  statements: 20_000,
  seed: 20261123,
  out: 'tmp/bench/subjects.json',
};
const REPORT_P95_MS = 200;
const say = (s = '') => process.stdout.write(`${s}\n`);
const int = (n: number) => Math.round(n).toLocaleString('en');
const DAY = 86_400_000;
const YEAR = 365 * DAY;
const START = Date.parse('2025-01-01T00:00:00.000Z');
const END = START + YEAR;
const PERSON = 'person0042';
const PREFIX = 'bench_';
const TABLES = ['pii.users', 'pii.message_text'];
const DATASET_OF: Record<string, string> = { 'pii.users': 'maintainer_identities', 'pii.message_text': 'message_text' };

/** bench/audit.ts's realistic mix, with pii.read shaped as ingestion writes it (objects, role, request). */
class SubjectEvents extends EventGenerator {
  private readonly r: Prng;
  constructor(seed: number, analysts: number, private readonly requests: number) {
    super(seed, analysts);
    this.r = new Prng(seed ^ 0x15);
  }
  override event(i: number, n: number) {
    const e = super.event(i, n);
    if (e.action !== 'pii.read') return e;
    const table = this.r.chance(0.7) ? 'pii.users' : 'pii.message_text';
    const outside = this.r.chance(0.01);
    return {
      ...e,
      actor: e.subject!,
      // Reads go under the reader's own requests (about twenty per analyst a year).
      requestId: outside ? null : 1 + ((Number(e.subject!.slice(-4)) * 20 + this.r.int(20)) % this.requests),
      dataset: outside ? null : DATASET_OF[table]!,
      details: { role: `${PREFIX}${e.subject}`, objects: [table], command: 'SELECT', statementSha256: this.r.hex(64), loggedAt: e.at, alert: outside },
    };
  }
}

async function seedGrants(c: pg.Client, rng: Prng, analysts: number, grants: number) {
  const names = Array.from({ length: analysts }, (_, i) => `analyst${String(i).padStart(4, '0')}`);
  await c.query(`INSERT INTO analysts (username, subject, role_name) SELECT u, u, $2 || u FROM unnest($1::text[]) u`, [names, PREFIX]);
  const cols = { analyst: [] as number[], dataset: [] as string[], start: [] as string[], end: [] as string[], ended: [] as (string | null)[], reason: [] as (string | null)[] };
  for (let i = 0; i < grants; i++) {
    const start = START + rng.int(YEAR);
    const days = 1 + rng.int(30);
    const end = start + days * DAY;
    const early = rng.chance(0.2);
    cols.analyst.push(1 + rng.skewed(analysts, 2));
    cols.dataset.push(rng.chance(0.7) ? 'maintainer_identities' : 'message_text');
    cols.start.push(new Date(start).toISOString());
    cols.end.push(new Date(end).toISOString());
    const endedAt = early ? start + rng.int(days * DAY) : end;
    // All ended (the run looks back on a finished year; at most one live grant per analyst and dataset).
    cols.ended.push(new Date(endedAt).toISOString());
    cols.reason.push(early ? rng.pick(['relinquished', 'revoked']) : 'expired');
  }
  await c.query(
    `INSERT INTO pii_requests (id, analyst_id, datasets, purpose, duration_seconds, state, created_at, review_deadline, approvals_required, decided_at, decided_by)
     SELECT g.i, g.a, ARRAY[g.d], 'Bench purpose number ' || g.i || ': a study of packaging activity over time.', 86400, 'approved', g.s - interval '1 day', g.s, 1, g.s, 'approver' || (g.i % 20)
       FROM unnest($1::int[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS g(a, d, s, i)`,
    [cols.analyst, cols.dataset, cols.start],
  );
  await c.query(`INSERT INTO pii_request_reviews (request_id, reviewer, decision, at) SELECT id, decided_by, 'approve', decided_at FROM pii_requests`);
  await c.query(
    `INSERT INTO pii_grants (request_id, analyst_id, role_name, dataset, group_role, starts_at, expires_at, ended_at, end_reason, ended_by)
     SELECT g.i, g.a, $7 || 'r' || g.a, g.d, $7 || 'pii_' || g.d, g.s, g.e, g.x, g.why, CASE WHEN g.x IS NULL THEN NULL ELSE 'system:sweeper' END
       FROM unnest($1::int[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[], $6::text[]) WITH ORDINALITY AS g(a, d, s, e, x, why, i)`,
    [cols.analyst, cols.dataset, cols.start, cols.end, cols.ended, cols.reason, PREFIX],
  );
  await c.query(`SELECT setval(pg_get_serial_sequence('pii_requests', 'id'), (SELECT max(id) FROM pii_requests))`);
  return names;
}

/** A pgaudit jsonlog of `n` single-table statements by `names`, a few per second, in log order. */
function writeLog(dir: string, file: string, n: number, names: string[], rng: Prng, startMs: number) {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const who = names[rng.skewed(names.length, 2)]!;
    const ts = new Date(startMs + i * 300).toISOString().replace('T', ' ').replace('Z', ' UTC');
    const table = rng.chance(0.7) ? 'pii.users' : 'pii.message_text';
    const sql = rng.chance(0.05) ? `SELECT * FROM ${table}` : `SELECT * FROM ${table} WHERE pseudonym = 'u_${rng.hex(16)}'`;
    lines.push(
      JSON.stringify({ timestamp: ts, user: `${PREFIX}${who}`, dbname: 'bench_warehouse', session_id: `s${i % 50}`, error_severity: 'LOG', message: `AUDIT: OBJECT,${i + 1},1,READ,SELECT,TABLE,${table},"${sql}",<not logged>` }),
    );
  }
  writeFileSync(path.join(dir, file), `${lines.join('\n')}\n`);
}

async function run(args: typeof defaults, cleanup: Cleanup): Promise<number> {
  const startedAt = new Date();
  say(`Subject report bench: ${int(args.events)} events, ${int(args.grants)} grants, ${args.analysts} analysts; ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const cluster = await startCluster({ tmpPrefix: 'fdwg-bench-subjects-', settings: { shared_buffers: '1GB' } });
  cleanup.add('cluster', () => cluster.stop());
  const policy = loadPolicy(path.resolve(repoRoot, 'policies'));
  const { controlUrl, warehouseUrl } = await prepareDatabases({
    superuserUrl: cluster.superuserUrl,
    controlDatabase: 'bench_control',
    warehouseDatabase: 'bench_warehouse',
    prefix: PREFIX,
    gatePassword: `gate-${Date.now()}`,
    policy,
  });
  // A small PII tier holding the person, and the DBA's lookup.
  const wh = new pg.Client({ connectionString: urlWith(cluster.superuserUrl, 'bench_warehouse') });
  await wh.connect();
  cleanup.add('warehouse connection', () => wh.end());
  await wh.query(`CREATE SCHEMA IF NOT EXISTS pii`);
  await wh.query(`CREATE TABLE pii.users (pseudonym text PRIMARY KEY, username text NOT NULL, email text NOT NULL)`);
  await wh.query(`CREATE TABLE pii.message_text (msg_id text NOT NULL, kind text NOT NULL, author_name text, author_email text, body text NOT NULL)`);
  await wh.query(`INSERT INTO pii.users SELECT 'u_' || md5(i::text), 'person' || lpad(i::text, 4, '0'), 'person' || lpad(i::text, 4, '0') || '@example.org' FROM generate_series(0, 4999) i`);
  await wh.query(`INSERT INTO pii.message_text SELECT md5(i::text), 'comment', 'Person', 'person' || lpad((i % 5000)::text, 4, '0') || '@example.org', 'text' FROM generate_series(1, 50000) i`);
  await wh.query(`CREATE INDEX ON pii.message_text (author_email); ANALYZE pii.users, pii.message_text`);
  await installSubjectLookup(wh, PREFIX);
  const pseudonym = (await wh.query(`SELECT pseudonym FROM pii.users WHERE username = $1`, [PERSON])).rows[0].pseudonym as string;

  const admin = new pg.Client({ connectionString: urlWith(cluster.superuserUrl, 'bench_control') });
  await admin.connect();
  cleanup.add('admin connection', () => admin.end());
  const rng = new Prng(args.seed);
  const t0 = performance.now();
  const names = await seedGrants(admin, rng, args.analysts, args.grants);
  const gen = new SubjectEvents(args.seed, args.analysts, args.grants);
  await loadEvents(admin, gen, args.events, (done) => {
    if (done % 200_000 === 0) say(`  loading ${int(done)} events (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  });
  // Statement text for the last 90 days (retention), one in a thousand naming the person.
  await admin.query(
    `INSERT INTO pii_read_statements (event_id, statement, statement_sha256)
     SELECT id, CASE WHEN id % 1000 = 0 THEN 'SELECT email FROM pii.users WHERE username = ''' || $1 || ''''
                     WHEN id % 1000 = 1 THEN 'SELECT * FROM pii.users WHERE pseudonym = ''' || $2 || ''''
                     ELSE 'SELECT * FROM pii.users WHERE pseudonym = ''u_' || md5(id::text) || '''' END,
            details ->> 'statementSha256'
       FROM audit_events WHERE action = 'pii.read' AND at > $3`,
    [PERSON, pseudonym, new Date(END - 90 * DAY).toISOString()],
  );
  // The events were loaded directly, not ingested: the report's rollups are built from them once.
  await admin.query('SELECT pii_read_rollup_rebuild()');
  await admin.query('VACUUM ANALYZE');
  await admin.query('CHECKPOINT');
  say(`Loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const pool = new pg.Pool({ connectionString: controlUrl, max: 8 });
  const whPool = new pg.Pool({ connectionString: warehouseUrl, max: 2 });
  cleanup.add('pools', async () => void (await Promise.all([pool.end(), whPool.end()])));
  const db = controlDb(pool);
  const reports = new SubjectReports(db, whPool, policy.pii_datasets, PREFIX);
  const auditor = { sub: 'carol', username: 'carol', email: null, name: null, groups: ['fdwg-auditors'] };
  const q = { username: PERSON, from: new Date(START), to: new Date(END), reason: 'bench: subject access request' };
  let last: Awaited<ReturnType<SubjectReports['report']>> | undefined;
  const w = { from: q.from, to: q.to };
  const datasets = policy.pii_datasets.map((d) => d.name);
  const terms = [PERSON, pseudonym];
  say(`Report for ${PERSON} over a year: ${args.warmup} warm-up + ${args.iterations} iterations, interleaved with the floor...`);
  const res = await runInterleaved(
    [
      { name: 'report', run: async () => (last = await reports.report(auditor as never, q, 'json')) },
      { name: 'floor: SELECT 1', run: () => pool.query('SELECT 1') },
      // Its parts alone (info): where the time goes.
      { name: 'part: warehouse lookup', run: () => subjectPresence(whPool, PREFIX, PERSON) },
      { name: 'part: grants', run: () => grantsOverlapping(db, datasets, w, REPORT_LIMITS.grants) },
      { name: 'part: readers', run: () => readers(db, TABLES, w) },
      { name: 'part: read counts', run: () => readCounts(db, TABLES, w, terms) },
      { name: 'part: naming reads', run: () => reads(db, TABLES, w, terms, { limit: REPORT_LIMITS.namingReads, naming: true }) },
      { name: 'part: latest reads', run: () => reads(db, TABLES, w, terms, { limit: REPORT_LIMITS.reads, naming: false }) },
    ],
    { warmup: args.warmup, iterations: args.iterations },
  );
  const rep = summarize(res.samples.report!);
  const floor = summarize(res.samples['floor: SELECT 1']!);
  say(`  report p50 ${fmtMs(rep.median)} ms, p95 ${fmtMs(rep.p95)} ms, p99 ${fmtMs(rep.p99)} ms; floor p95 ${fmtMs(floor.p95)} ms`);
  const parts = Object.fromEntries(Object.entries(res.samples).filter(([k]) => k.startsWith('part: ')).map(([k, v]) => [k, summarize(v)]));
  for (const [k, v] of Object.entries(parts)) say(`    ${k.padEnd(26)} p50 ${fmtMs(v.median)} ms, p95 ${fmtMs(v.p95)} ms`);
  say(`  the report: ${int(last!.grantsTotal)} grants, ${int(last!.readsTotal)} reads by ${last!.readers.length} reader rows, ${int(last!.namingTotal)} naming the person, ${last!.alerts.length} alerts`);

  // -- Alert evaluation cost at ingestion ----------------------------------------------------------
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdwg-bench-alerts-'));
  cleanup.add('log dir', async () => rmSync(dir, { recursive: true, force: true }));
  const half = Math.floor(args.statements / 4);
  const logStart = END - 30 * DAY;
  const lookup = requestInForceLookup(db, policy.pii_datasets);
  const rules = alertEvaluator(db, policy.alerts);
  const timings = { without: { s: 0, n: 0, raised: 0 }, with: { s: 0, n: 0, raised: 0 } };
  // Alternating quarters, each its own file (its own cursor), so drift hits both equally.
  for (const [k, mode] of (['without', 'with', 'with', 'without'] as const).entries()) {
    const sub = path.join(dir, `q${k}`);
    mkdirSync(sub);
    writeLog(sub, 'postgresql.json', half, names, rng, logStart + k * half * 300);
    const t = performance.now();
    const r = await ingestPgauditLogs(db, { logDir: sub, rolePrefix: PREFIX, now: () => new Date(Date.now() + 60_000), findRequestInForce: lookup, ...(mode === 'with' ? { alerts: rules } : {}) });
    timings[mode].s += (performance.now() - t) / 1000;
    timings[mode].n += r.events;
    timings[mode].raised += r.raised ?? 0;
  }
  const rateWithout = timings.without.n / timings.without.s;
  const rateWith = timings.with.n / timings.with.s;
  const costMs = (timings.with.s / timings.with.n - timings.without.s / timings.without.n) * 1000;
  say(`  ingestion: ${int(rateWithout)} statements/s without rules, ${int(rateWith)} with ${policy.alerts.length} rules (${int(timings.with.raised)} alerts raised); ${costMs.toFixed(3)} ms per statement`);

  const figures: Figure[] = [
    figure({ figure: `subject report, 1 person, 1 year, ${int(args.events)} events, ${int(args.grants)} grants, p95 (floor: SELECT 1 p95)`, result: rep.p95, floor: floor.p95, unit: 'ms', target: { below: REPORT_P95_MS } }),
    figure({ figure: 'pgaudit ingestion with the policy alert rules (floor: without rules)', result: rateWith, floor: rateWithout, unit: 'statements/s' }),
    figure({ figure: 'alert evaluation cost per ingested statement (info)', result: costMs, floor: null, unit: 'ms' }),
  ];
  say();
  say(formatFigures(figures));
  const file = writeJson(args.out, {
    bench: 'subjects',
    figures,
    spec: 'Report for one person over a year of history with 1M audit events and 10k grants: p95 < 200 ms. Alert evaluation cost per ingested statement (ingestion throughput with and without rules, one run).',
    startedAt: startedAt.toISOString(),
    command: rerunCommand('bench:subjects'),
    args,
    environment: environment(),
    report: { samples: rep, floor, parts, contents: { grants: last!.grantsTotal, reads: last!.readsTotal, naming: last!.namingTotal, readers: last!.readers.length, alerts: last!.alerts.length } },
    ingestion: { ...timings, rateWithout, rateWith, costMsPerStatement: costMs, rules: policy.alerts.length },
  });
  say(`Wrote ${path.relative(process.cwd(), file) || file}`);
  return 0;
}

if (process.argv[1] && import.meta.url === `file://${path.resolve(process.argv[1])}`) runBench(defaults, run);
