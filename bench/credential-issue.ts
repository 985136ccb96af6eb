// Bench: credential issue end to end (HTTP POST /api/credentials to a usable password), median and
// p99, against the floor of a bare `ALTER ROLE ... PASSWORD ... VALID UNTIL` round trip measured in
// the same run. Target (issue 14): median(gate) <= 2 x median(floor with a SCRAM verifier, what the
// gate sends); the JSON's `figures` carry it for `npm run bench:all`.
//
//   npm run bench -- [--n 300] [--warmup 20] [--verify-every 25] [--messages 1000] [--out tmp/bench/credential-issue.json]
//
// Everything runs on loopback in this process: a fresh embedded PostgreSQL (scram-sha-256) in a temp
// directory, the dev OIDC issuer, and the gate served over real HTTP. Alice signs in through the
// issuer's login form and accepts the agreement, then the cases below run interleaved (rotating
// order each iteration) so machine noise hits all of them alike:
//
//   gate      POST /api/credentials over HTTP, timed from send to parsed JSON (password in hand);
//             every --verify-every iterations the password is used (pg login + SELECT 1), untimed.
//   floor     ALTER ROLE <bench role> PASSWORD '<plaintext>' VALID UNTIL '<ts>' over a persistent
//             superuser connection: the server does its own SCRAM hashing (the spec's floor).
//   floor/v   the same with a SCRAM verifier computed beforehand (untimed), as the gate sends it.
//   context   GET /healthz (HTTP + one DB round trip on each pool), GET /api/me (HTTP + session +
//             two control queries), and a bare `SELECT 1` on a persistent connection.
//
// Note on the floor: PostgreSQL runs PBKDF2 on every `ALTER ROLE ... PASSWORD`, even for a ready
// verifier (AlterRole -> plain_crypt_verify checks that the secret is not the empty password), so
// the plaintext floor costs two server-side PBKDF2 runs and the verifier variant one.
//
// The gate's pools are created here and their clients' `query` is wrapped (outside src/) to count and
// time every statement the gate sends per issue, which gives the breakdown without a profiler.
// Exit code: 0 when the run completes (PASS or FAIL is a figure, not an error), 1 on any error.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { urlWith } from '../src/node/databases.js';
import { scramSha256Verifier } from '../src/provisioner/scram.js';
import { startGateOn } from '../test/support/gate-core.js';
import { HttpSession, signIn } from '../test/support/http-session.js';
import {
  type BenchCase,
  Cleanup,
  type Figure,
  type Summary,
  environment,
  fmtMs,
  formatTable,
  runBench,
  runInterleaved,
  startCluster,
  summarize,
  writeJson,
  rerunCommand,
  type Stmt,
  StatementTrace,
  type TracedRequest,
  requestTimeline,
  timelineRows,
  timelineStatements,
} from './lib.js';

// Issue 14: within 2x the floor (it was 3x before).
const TARGET_RATIO = 2;

const defaults = {
  n: 300,
  warmup: 20,
  verifyEvery: 25,
  messages: 1000,
  out: 'tmp/bench/credential-issue.json',
};
let args = defaults;

const say = (s = '') => process.stdout.write(`${s}\n`);
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** Short, password-free label for a statement (verifiers and timestamps elided). */
function label(sql: string): string {
  return sql
    .replace(/'SCRAM-SHA-256\$[^']*'/g, "'<verifier>'")
    .replace(/'\d{4}-\d\d-\d\dT[^']*'/g, "'<ts>'")
    .replace(/"[a-z0-9_]+?_(alice|gate|tier_pseudonymized)"/g, '"<prefix>_$1"')
    .slice(0, 110);
}

// ------------------------------------------------------------------------------------------------


async function run(cleanup: Cleanup, startedAt: Date): Promise<number> {
  const n = Math.trunc(args.n);
  const warmup = Math.trunc(args.warmup);
  const verifyEvery = Math.max(1, Math.trunc(args.verifyEvery));
  if (n < 1 || warmup < 0) throw new Error('--n must be >= 1 and --warmup >= 0');

  // -- Infrastructure ------------------------------------------------------------------------------
  const t0 = performance.now();
  say('Starting embedded PostgreSQL in a temporary directory...');
  const cluster = await startCluster();
  cleanup.add('embedded PostgreSQL', () => cluster.stop());

  const suffix = hex(4);
  say(`Preparing databases (demo warehouse, ${args.messages.toLocaleString('en')} messages)...`);
  const trace = new StatementTrace();
  // Production-like logging (one JSON line per request), written nowhere; errors are kept.
  const gateErrors: string[] = [];
  const gate = await startGateOn(cluster.superuserUrl, {
    demoMessages: args.messages,
    logSink: (line) => {
      if (line.includes('"level":"error"')) gateErrors.push(line);
    },
    onPools: ({ control, warehouse }) => {
      trace.attach(control, 'control');
      trace.attach(warehouse, 'warehouse');
    },
  });
  cleanup.add('gate (HTTP server, pools, issuer)', () => gate.close());
  const publicUrl = gate.url;
  const warehouseDatabase = gate.config.analystDb.database;

  // -- Alice signs in and accepts the agreement ----------------------------------------------------
  const alice = new HttpSession();
  const end = await signIn(alice, publicUrl, 'alice', 'alice-demo');
  await end.res.arrayBuffer();
  if (end.res.status !== 200 || end.url.origin !== new URL(publicUrl).origin) {
    throw new Error(`sign-in did not end on the gate: ${end.res.status} ${end.url}`);
  }
  const getJson = async (p: string) => {
    const res = await alice.request(`${publicUrl}${p}`, { headers: { accept: 'application/json' } });
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) throw new Error(`GET ${p}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
  const postJson = (p: string, body: unknown) =>
    alice.request(`${publicUrl}${p}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
  const me = (await getJson('/api/me')) as { agreement?: { version?: string } };
  const version = me.agreement?.version;
  if (!version) throw new Error(`GET /api/me has no agreement version: ${JSON.stringify(me)}`);
  const accepted = await postJson('/api/agreement', { version });
  if (accepted.status !== 200) throw new Error(`POST /api/agreement: ${accepted.status} ${await accepted.text()}`);
  await accepted.arrayBuffer();

  // -- Floor connections ---------------------------------------------------------------------------
  const floorRole = `bench_floor_${suffix}`;
  const floor = new pg.Client({ connectionString: urlWith(cluster.superuserUrl, warehouseDatabase) });
  await floor.connect();
  cleanup.add('floor connection', () => floor.end());
  await floor.query(`CREATE ROLE ${floor.escapeIdentifier(floorRole)} LOGIN`);
  const floorIdent = floor.escapeIdentifier(floorRole);
  // The bootstrap revokes CONNECT from PUBLIC; the floor role needs it only for the final check.
  await floor.query(`GRANT CONNECT ON DATABASE ${floor.escapeIdentifier(warehouseDatabase)} TO ${floorIdent}`);
  const validUntil = () => new Date(Date.now() + gate.policy.credentials.ttl_default * 1000).toISOString();
  const pings = new pg.Client({ connectionString: urlWith(cluster.superuserUrl, warehouseDatabase) });
  await pings.connect();
  cleanup.add('ping connection', () => pings.end());

  say(`Ready in ${((performance.now() - t0) / 1000).toFixed(1)} s. Measuring ${warmup} warm-up + ${n} iterations...`);

  // -- Cases ---------------------------------------------------------------------------------------
  interface Issued {
    role: string;
    password: string;
  }
  let verified = 0;
  let lastIssued: Issued | undefined;
  const issues: TracedRequest[] = [];
  const scramMs: number[] = [];
  let lastFloorPassword = '';

  const usable = async (role: string, password: string) => {
    const c = new pg.Client({ host: '127.0.0.1', port: cluster.port, database: warehouseDatabase, user: role, password });
    await c.connect();
    try {
      const { rows } = await c.query<{ me: string }>('SELECT current_user AS me, 1 AS one');
      if (rows[0]?.me !== role) throw new Error(`logged in as ${rows[0]?.me}, expected ${role}`);
    } finally {
      await c.end();
    }
  };

  const GATE = 'gate: POST /api/credentials';
  const FLOOR = 'floor: ALTER ROLE, plaintext';
  const FLOOR_V = 'floor: ALTER ROLE, SCRAM verifier';
  const HEALTHZ = 'http: GET /healthz';
  const ME = 'http: GET /api/me';
  const SELECT1 = 'pg: SELECT 1';

  const cases: BenchCase[] = [
    {
      name: GATE,
      prepare: () => {
        trace.active = [];
      },
      run: async () => {
        const sent = performance.now();
        const res = await postJson('/api/credentials', {});
        const body = (await res.json()) as { role?: string; password?: string; error?: unknown };
        return { status: res.status, body, sent, answered: performance.now() };
      },
      check: async (out, iteration) => {
        const stmts = trace.active ?? [];
        trace.active = null;
        // The password supply refills after each issue (src/credentials/password-supply.ts); its
        // PBKDF2 must not land on the next case, a floor among them.
        await gate.services.credentials.passwords.idle();
        const { status, body, sent, answered } = out as { status: number; body: { role?: string; password?: string; error?: unknown }; sent: number; answered: number };
        if (status !== 201 || !body.password || !body.role) {
          throw new Error(`POST /api/credentials: ${status} ${JSON.stringify(body.error ?? body).slice(0, 300)}`);
        }
        lastIssued = { role: body.role, password: body.password };
        if (iteration >= 0) issues.push({ sent, answered, stmts });
        if (iteration === -1 || (iteration >= 0 && iteration % verifyEvery === 0)) {
          await usable(body.role, body.password);
          verified++;
        }
      },
    },
    {
      name: FLOOR,
      prepare: () => {
        lastFloorPassword = hex(24);
        return `ALTER ROLE ${floorIdent} PASSWORD '${lastFloorPassword}' VALID UNTIL '${validUntil()}'`;
      },
      run: (sql) => floor.query(sql as string),
    },
    {
      name: FLOOR_V,
      prepare: async () => {
        const s = performance.now();
        const verifier = await scramSha256Verifier(hex(24));
        scramMs.push(performance.now() - s);
        return `ALTER ROLE ${floorIdent} PASSWORD '${verifier}' VALID UNTIL '${validUntil()}'`;
      },
      run: (sql) => floor.query(sql as string),
    },
    {
      name: HEALTHZ,
      run: async () => {
        const res = await fetch(`${publicUrl}/healthz`);
        await res.json();
        return res.status;
      },
      check: (status) => {
        if (status !== 200) throw new Error(`GET /healthz: ${String(status)}`);
      },
    },
    { name: ME, run: () => getJson('/api/me') },
    { name: SELECT1, run: () => pings.query('SELECT 1') },
  ];

  const loadBefore = os.loadavg().map((x) => x.toFixed(2));
  const benchStart = performance.now();
  let lastShown = 0;
  const { samples, cpu } = await runInterleaved(cases, {
    warmup,
    iterations: n,
    onProgress: (done, total) => {
      const pct = Math.floor((done / total) * 100);
      if (pct >= lastShown + 20 || done === total) {
        lastShown = pct;
        say(`  ${done}/${total}`);
      }
    },
  });
  const benchSeconds = (performance.now() - benchStart) / 1000;

  // The last issued password still works (and the floor's plaintext password does too).
  if (!lastIssued) throw new Error('nothing was issued');
  await usable(lastIssued.role, lastIssued.password);
  verified++;
  await floor.query(`ALTER ROLE ${floorIdent} PASSWORD '${lastFloorPassword}' VALID UNTIL '${validUntil()}'`);
  await usable(floorRole, lastFloorPassword);
  if (gateErrors.length > 0) throw new Error(`the gate logged errors:\n${gateErrors.slice(0, 3).join('\n')}`);

  // -- Figures -------------------------------------------------------------------------------------
  const stats: Record<string, Summary> = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
  const cpuStats: Record<string, Summary> = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, summarize(v)]));
  const g = stats[GATE]!;
  const f = stats[FLOOR]!;
  const fv = stats[FLOOR_V]!;
  const ratio = g.median / f.median;
  const ratioV = g.median / fv.median;
  const pass = ratio <= TARGET_RATIO;

  say();
  say(`Credential issue end to end: ${n} iterations (+${warmup} warm-up), interleaved, ${benchSeconds.toFixed(1)} s`);
  say(`Passwords verified usable (pg login + SELECT 1): ${verified}`);
  say(`Load average before/after: ${loadBefore.join(' ')} / ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs`);
  say();
  const row = (name: string, s: Summary, note = '') => [
    name,
    fmtMs(s.median),
    fmtMs(s.p95),
    fmtMs(s.p99),
    fmtMs(s.mean),
    fmtMs(s.min),
    fmtMs(s.max),
    fmtMs(cpuStats[name]?.median ?? Number.NaN),
    note,
  ];
  say(
    formatTable(
      ['case (ms)', 'median', 'p95', 'p99', 'mean', 'min', 'max', 'node cpu', ''],
      [
        row(GATE, g, 'measured'),
        row(FLOOR, f, 'floor (spec)'),
        row(FLOOR_V, fv, 'floor variant'),
        row(HEALTHZ, stats[HEALTHZ]!, 'context'),
        row(ME, stats[ME]!, 'context'),
        row(SELECT1, stats[SELECT1]!, 'context'),
      ],
    ),
  );
  say();
  say(`median(gate) / median(floor, plaintext) = ${ratio.toFixed(2)}x   target <= ${TARGET_RATIO}x   ${pass ? 'PASS' : 'FAIL'}`);
  say(`median(gate) / median(floor, verifier)  = ${ratioV.toFixed(2)}x   target <= ${TARGET_RATIO}x   ${ratioV <= TARGET_RATIO ? 'PASS' : 'FAIL'} (the floor bench:all reports)`);
  say(`min(gate) / min(floor, plaintext)       = ${(g.min / f.min).toFixed(2)}x   (noise-free reference)`);

  // -- Breakdown (statements the gate sent per issue, from the wrapped pool clients) ---------------
  const gateStatements = issues.map((r) => r.stmts);
  const perIssue = (pick: (s: Stmt) => boolean) => summarize(gateStatements.map((list) => list.filter(pick).reduce((a, s) => a + s.ms, 0)));
  const countOf = (pool: Stmt['pool']) => summarize(gateStatements.map((list) => list.filter((s) => s.pool === pool).length));
  const dbControl = perIssue((s) => s.pool === 'control');
  const dbWarehouse = perIssue((s) => s.pool === 'warehouse');
  const scram = summarize(scramMs);
  const healthzOverhead = stats[HEALTHZ]!.median - stats[SELECT1]!.median;
  const timeline = requestTimeline(issues, label);
  say();
  say(`Where one issue's time goes (medians over ${issues.length}; offsets from the HTTP send; pipelined statements overlap):`);
  say(
    formatTable(
      ['part', 'median ms', 'note'],
      [
        ['gate total (HTTP POST to parsed JSON)', fmtMs(g.median), 'the figure'],
        ...timelineRows(timeline, 2, `${countOf('control').median} control + ${countOf('warehouse').median} warehouse statements; x${(timeline.dbSpan / fv.median).toFixed(2)} the verifier floor`),
        ['control statements, summed', fmtMs(dbControl.median), 'some overlap each other and the ALTER'],
        ['warehouse ALTER (+ password record)', fmtMs(dbWarehouse.median), `floor ALTER alone: ${fmtMs(fv.median)}`],
        ['SCRAM verifier in JS (PBKDF2 4096)', fmtMs(scram.median), 'made ahead of the issue (PasswordSupply), off its path'],
        ['Node CPU per issue (all threads)', fmtMs(cpuStats[GATE]!.median), 'gate + this bench client'],
        ['context: GET /healthz - SELECT 1', fmtMs(healthzOverhead), 'HTTP + app, no session, no body'],
      ],
    ),
  );
  say();
  say('Statements per issue, in start order (ms from the HTTP send):');
  say(timelineStatements(timeline));

  const round = (xs: number[]) => xs.map((x) => Math.round(x * 1000) / 1000);
  // For `npm run bench:all` (bench/lib.ts Figure): the floor is the ALTER ROLE with a SCRAM
  // verifier, what the gate sends; the plaintext floor is kept as a second line for comparison.
  const figures: Figure[] = [
    {
      figure: 'credential issue, median (floor: ALTER ROLE with a SCRAM verifier)',
      result: g.median,
      floor: fv.median,
      unit: 'ms',
      ratio: ratioV,
      target: `<= ${TARGET_RATIO}x`,
      pass: ratioV <= TARGET_RATIO,
    },
    {
      figure: 'credential issue, median (floor: ALTER ROLE with the plaintext)',
      result: g.median,
      floor: f.median,
      unit: 'ms',
      ratio,
      target: `<= ${TARGET_RATIO}x`,
      pass,
    },
  ];
  const file = writeJson(args.out, {
    bench: 'credential-issue',
    figures,
    spec: `credential issue end to end (HTTP POST to usable password), median and p99, vs bare ALTER ROLE ... PASSWORD ... VALID UNTIL; target median <= ${TARGET_RATIO}x floor`,
    startedAt: startedAt.toISOString(),
    command: rerunCommand('bench'),
    environment: environment(),
    params: { n, warmup, verifyEvery, messages: args.messages, interleaved: true },
    unit: 'ms',
    results: stats,
    nodeCpuMs: cpuStats,
    ratio: { gateOverFloor: ratio, gateOverFloorVerifier: ratioV, minGateOverMinFloor: g.min / f.min, target: TARGET_RATIO, pass },
    loadavgBefore: loadBefore.map(Number),
    loadavgAfter: os.loadavg(),
    verifiedPasswords: verified,
    breakdown: {
      timeline,
      dbControl,
      dbWarehouse,
      statementsPerIssue: { control: countOf('control').median, warehouse: countOf('warehouse').median },
      scramVerifierJs: scram,
      httpOverheadHealthzMinusSelect1: healthzOverhead,
    },
    samples: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, round(v)])),
  });
  say();
  say(`Wrote ${path.relative(process.cwd(), file) || file}`);
  return 0;
}

runBench(defaults, (parsed, cleanup) => {
  args = parsed;
  return run(cleanup, new Date());
});
