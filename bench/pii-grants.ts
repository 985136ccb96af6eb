// Bench: the PII tier's two figures.
//
//   npm run bench:pii -- [--n 40] [--warmup 5] [--grants 1000] [--sessions 40] [--rounds 3] [--messages 1000] [--warm-session] [--out tmp/bench/pii-grants.json]
//
// 1. Approval to first successful PII query. alice holds a live warehouse session (as psql would);
//    bob approves her request over HTTP; the clock stops when alice's *same* session first reads
//    pii.users. Floors, measured interleaved in the same run: a bare `GRANT <dataset role> TO <role>
//    WITH INHERIT TRUE, SET FALSE` by a superuser plus the same SELECT on the grantee's live session:
//    (a) a session prepared as alice's is (connected just before, SELECT 1, one refused PII read),
//    (b) one session used all along (the floor of earlier runs; a just-opened session's first table
//    read costs more, so (a) is like for like). Both are figures.
//    Untimed between iterations: alice relinquishes (which ends her sessions), reconnects and asks
//    again.
//    Target: median <= 3 x the floor's.
// 2. Sweeper: --grants expired grants (stand-in analysts made as superuser, --sessions of them with
//    a live session; by default every one, on a cluster allowing 1,200 connections) revoked, their
//    sessions terminated and waited for until gone, each audited, by one GrantSweeper.sweep(), with
//    its phases (lock, revoke, terminate, wait, check, mark, outbox, audit, commit). Floor, same
//    run, alternating which goes first each round: a superuser `REVOKE <group> FROM <all roles>`,
//    pg_terminate_backend of the same sessions and the same wait (src/provisioner/sessions.ts).
//    Target: median <= 1.5 x the floor's. Checked afterwards (both): no membership left, every
//    session gone; for the sweeper also one pii.revoked per grant.
//
// Everything runs on loopback in this process: a fresh embedded PostgreSQL in a temp directory, the
// dev OIDC issuer, the gate over real HTTP. Exit code 0 when the run completes (PASS/FAIL is a
// figure), 1 on any error.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import pg from 'pg';
import { controlDb } from '../src/db/client.js';
import { urlWith } from '../src/node/databases.js';
import { datasetRole } from '../src/provisioner/roles.js';
import { terminateRoleSessions, waitUntilGone } from '../src/provisioner/sessions.js';
import { GrantSweeper } from '../src/requests/grant-sweeper.js';
import { endPhases } from '../src/requests/phases.js';
import { analystClient, startGateOn } from '../test/support/gate-core.js';
import { HttpSession, signIn } from '../test/support/http-session.js';
import {
  Cleanup,
  type Figure,
  type Stmt,
  StatementTrace,
  requestTimeline,
  timelineRows,
  timelineStatements,
  environment,
  figure,
  fmtMs,
  formatFigures,
  formatTable,
  runBench,
  runInterleaved,
  startCluster,
  summarize,
  writeJson,
} from './lib.js';

/** Targets of issue 14, as ratios to the floor measured in the same run. */
const APPROVAL_TARGET = 3;
const SWEEP_TARGET = 1.5;
// --warm-session: alice's session reads a pseudonymized table before the approval (untimed), as a
// session in use would have; by default it has only run SELECT 1 and the refused PII read.
const defaults = { n: 40, warmup: 5, grants: 1000, sessions: 1000, rounds: 3, messages: 1000, warmSession: false, out: 'tmp/bench/pii-grants.json' };
const say = (s = '') => process.stdout.write(`${s}\n`);
const PURPOSE = 'Bench: join the maintainer roster to pseudonyms for the activity report.';


async function run(args: typeof defaults, cleanup: Cleanup): Promise<number> {
  const startedAt = new Date();
  say('Starting embedded PostgreSQL in a temporary directory...');
  // Room for a live session per expired grant (the default allows 100 connections).
  const cluster = await startCluster({ settings: { max_connections: '1200' } });
  cleanup.add('embedded PostgreSQL', () => cluster.stop());
  say(`Preparing the gate (demo warehouse, ${args.messages} messages)...`);
  // The gate's statements during each approval are timed from its own pool clients (the breakdown).
  const trace = new StatementTrace();
  const gate = await startGateOn(cluster.superuserUrl, {
    demoMessages: args.messages,
    logSink: () => {},
    onPools: ({ control, warehouse }) => {
      trace.attach(control, 'control');
      trace.attach(warehouse, 'warehouse');
    },
  });
  cleanup.add('gate', () => gate.close());
  const warehouseSu = urlWith(cluster.superuserUrl, gate.config.analystDb.database);
  const controlSu = new pg.Client({ connectionString: gate.controlAdminUrl });
  await controlSu.connect();
  cleanup.add('control superuser connection', () => controlSu.end());
  const su = new pg.Client({ connectionString: warehouseSu });
  await su.connect();
  cleanup.add('warehouse superuser connection', () => su.end());
  const group = datasetRole(gate.prefix, 'maintainer_identities');

  // -- People ------------------------------------------------------------------------------------
  const sessions: Record<string, HttpSession> = {};
  for (const who of ['alice', 'bob']) {
    sessions[who] = new HttpSession();
    const end = await signIn(sessions[who]!, gate.url, who, `${who}-demo`);
    await end.res.arrayBuffer();
  }
  const call = async (who: string, method: string, p: string, body?: unknown) => {
    const res = await sessions[who]!.request(`${gate.url}/api${p}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = (await res.json()) as any;
    if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(data)}`);
    return data;
  };
  await call('alice', 'POST', '/agreement', { version: gate.policy.agreement.version });
  const cred = await call('alice', 'POST', '/credentials', { ttlSeconds: 86400 });

  // -- 1. Approval to first PII query ---------------------------------------------------------------
  let alice: pg.Client | undefined;
  let lastRequest = 0;
  const floorRole = `bench_floor_${randomBytes(4).toString('hex')}`;
  const floorPassword = randomBytes(18).toString('base64url');
  await su.query(`CREATE ROLE ${su.escapeIdentifier(floorRole)} LOGIN PASSWORD '${floorPassword}'`);
  await su.query(`GRANT ${su.escapeIdentifier(gate.roles.pseudonymized)} TO ${su.escapeIdentifier(floorRole)}`);
  const floorSession = analystClient(gate, floorRole, floorPassword);
  await floorSession.connect();
  cleanup.add('floor session', () => floorSession.end());
  const readPii = (c: pg.Client) => c.query('SELECT username FROM pii.users LIMIT 1');
  /**
   * A session as alice holds one before an approval, for her and for the like-for-like floor:
   * connected just now, SELECT 1, one PII read refused (42501); with --warm-session also one
   * pseudonymized read.
   */
  const connectRefused = async (role: string, password: string) => {
    const c = analystClient(gate, role, password);
    c.on('error', () => {});
    await c.connect();
    await c.query('SELECT 1');
    await readPii(c).then(
      () => {
        throw new Error(`${role} read PII before any grant`);
      },
      (err: { code?: string }) => {
        if (err.code !== '42501') throw err;
      },
    );
    if (args.warmSession) await c.query('SELECT * FROM pseudonymized.users LIMIT 1');
    return c;
  };

  /** One approval's timeline: HTTP sent, answer parsed, first read answered, the gate's statements. */
  type Marks = { sent: number; answered: number; read: number; again: number; stmts: Stmt[] };
  const approvals: Marks[] = [];
  let marks: Marks | undefined;
  // Context, same run: HTTP to a route without database or session, by fetch (as HttpSession) and
  // by node:http on a keep-alive agent; a bare round trip on a warehouse connection.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  cleanup.add('keep-alive agent', () => agent.destroy());
  const nodeGet = (url: string) =>
    new Promise<number>((resolve, reject) => {
      http
        .get(url, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
        .on('error', reject);
    });
  const FRESH_FLOOR = 'floor, fresh session';
  const LIVE_FETCH = 'http: GET /healthz/live (fetch)';
  const LIVE_NODE = 'http: GET /healthz/live (node:http)';
  const SELECT1 = 'pg: SELECT 1';

  say(`Approval to first PII query: ${args.n} iterations (+${args.warmup} warm-up), interleaved with the floor...`);
  const timing = await runInterleaved(
    [
      {
        name: 'gate',
        prepare: async () => {
          if (lastRequest) await call('alice', 'POST', `/requests/${lastRequest}/relinquish`);
          await alice?.end().catch(() => {});
          alice = await connectRefused(cred.role, cred.password);
          lastRequest = (await call('alice', 'POST', '/requests', { datasets: ['maintainer_identities'], purpose: PURPOSE, durationSeconds: 3600 })).id;
          marks = undefined;
          trace.active = [];
          return lastRequest;
        },
        run: async (id) => {
          const sent = performance.now();
          const decided = await call('bob', 'POST', `/requests/${id}/reviews`, { decision: 'approve' });
          const answered = performance.now();
          if (!decided.final) throw new Error('approval was not final');
          const rows = (await readPii(alice!)).rows.length;
          marks = { sent, answered, read: performance.now(), again: 0, stmts: [] };
          return rows;
        },
        check: async (rows, iteration) => {
          const stmts = trace.active ?? [];
          trace.active = null;
          if (rows !== 1) throw new Error('the PII read returned nothing');
          // Untimed: the same read again, to tell the first read's own cost from the session's.
          const t0 = performance.now();
          await readPii(alice!);
          if (iteration >= 0 && marks) approvals.push({ ...marks, again: performance.now() - t0, stmts: stmts.sort((a, b) => a.start - b.start) });
        },
      },
      {
        name: LIVE_FETCH,
        run: async () => {
          const res = await fetch(`${gate.url}/healthz/live`);
          await res.arrayBuffer();
          return res.status;
        },
        check: (status) => {
          if (status !== 200) throw new Error(`GET /healthz/live: ${String(status)}`);
        },
      },
      {
        name: LIVE_NODE,
        run: () => nodeGet(`${gate.url}/healthz/live`),
        check: (status) => {
          if (status !== 200) throw new Error(`GET /healthz/live: ${String(status)}`);
        },
      },
      { name: SELECT1, run: () => su.query('SELECT 1') },
      {
        // Like for like: a session prepared as alice's is (connected just before, SELECT 1, one
        // refused PII read), so both first reads pay what a just-opened session pays.
        name: FRESH_FLOOR,
        prepare: () => connectRefused(floorRole, floorPassword),
        run: async (c) => {
          await su.query(`GRANT ${su.escapeIdentifier(group)} TO ${su.escapeIdentifier(floorRole)} WITH INHERIT TRUE, SET FALSE`);
          return { c: c as pg.Client, rows: (await readPii(c as pg.Client)).rows.length };
        },
        check: async (out) => {
          const { c, rows } = out as { c: pg.Client; rows: number };
          await c.end().catch(() => {});
          if (rows !== 1) throw new Error('the floor PII read returned nothing');
          await su.query(`REVOKE ${su.escapeIdentifier(group)} FROM ${su.escapeIdentifier(floorRole)}`);
        },
      },
      {
        name: 'floor',
        run: async () => {
          await su.query(`GRANT ${su.escapeIdentifier(group)} TO ${su.escapeIdentifier(floorRole)} WITH INHERIT TRUE, SET FALSE`);
          return (await readPii(floorSession)).rows.length;
        },
        check: async (rows) => {
          if (rows !== 1) throw new Error('the floor PII read returned nothing');
          await su.query(`REVOKE ${su.escapeIdentifier(group)} FROM ${su.escapeIdentifier(floorRole)}`);
        },
      },
    ],
    { warmup: args.warmup, iterations: args.n },
  );
  if (lastRequest) await call('alice', 'POST', `/requests/${lastRequest}/relinquish`);
  await alice?.end().catch(() => {});
  const gateS = summarize(timing.samples.gate!);
  const floorS = summarize(timing.samples.floor!);
  const freshFloorS = summarize(timing.samples[FRESH_FLOOR]!);
  const med = (xs: number[]) => summarize(xs).median;
  const breakdown = {
    ...requestTimeline(approvals, (sql) => label(sql, gate.prefix)),
    read: med(approvals.map((r) => r.read - r.answered)),
    again: med(approvals.map((r) => r.again)),
  };
  const context = Object.fromEntries([LIVE_FETCH, LIVE_NODE, SELECT1].map((k) => [k, summarize(timing.samples[k]!).median]));
  say('');
  say(`Where one approval's time goes (medians over ${approvals.length}; offsets from the HTTP send; pipelined statements overlap):`);
  say(
    formatTable(
      ['part', 'median ms', 'note'],
      [
        ['approval -> first PII read', fmtMs(gateS.median), 'the figure'],
        ['  HTTP POST .../reviews, send to parsed JSON', fmtMs(breakdown.http), ''],
        ...timelineRows(breakdown, 4, `${breakdown.count} statements`),
        ['  first read on alice\'s live session', fmtMs(breakdown.read), `floor: GRANT + SELECT ${fmtMs(freshFloorS.median)} (session as alice's), ${fmtMs(floorS.median)} (long-used)`],
        ['  (the same read again, untimed)', fmtMs(breakdown.again), 'alice connected just before; the floor\'s session is old'],
        ['Node CPU during the approval case', fmtMs(summarize(timing.cpu.gate!).median), 'gate + bench client, all threads; PostgreSQL not included'],
        ['Node CPU during the floor case', fmtMs(summarize(timing.cpu.floor!).median), ''],
        ...Object.entries(context).map(([k, v]) => [`context: ${k}`, fmtMs(v), '']),
      ],
    ),
  );
  say('');
  say(timelineStatements(breakdown));

  // -- 2. Sweeper, and its floor ------------------------------------------------------------------------
  const total = Math.trunc(args.grants);
  const withSessions = Math.min(Math.trunc(args.sessions), total);
  const roles = Array.from({ length: total }, (_, i) => `${gate.prefix}bench_${i}`);
  const withSession = roles.slice(0, withSessions);
  const rolePassword = randomBytes(18).toString('base64url');
  // --rounds 0 measures the approval alone (e.g. under a profiler).
  if (args.rounds > 0) {
    say(`Sweeper: creating ${total} stand-in analyst roles (${withSessions} with a live session)...`);
    await su.query(roles.map((r) => `CREATE ROLE ${su.escapeIdentifier(r)} NOLOGIN`).join(';\n'));
    for (const r of withSession) {
      await su.query(`ALTER ROLE ${su.escapeIdentifier(r)} LOGIN PASSWORD '${rolePassword}'`);
      await su.query(`GRANT ${su.escapeIdentifier(gate.roles.pseudonymized)} TO ${su.escapeIdentifier(r)}`);
    }
    const analystRows = await controlSu.query<{ id: number }>(
      `INSERT INTO analysts (username, subject, role_name)
       SELECT 'bench' || i, 'sub-bench' || i, $1 || 'bench_' || i FROM generate_series(0, $2::int - 1) i RETURNING id`,
      [gate.prefix, total],
    );
    if (analystRows.rowCount !== total) throw new Error('analyst rows missing');
  }
  const roleList = roles.map((r) => su.escapeIdentifier(r)).join(', ');

  /** Memberships as the gate grants them, and a live session (that has read PII) per role that logs in. */
  const grantAndConnect = async (): Promise<pg.Client[]> => {
    await su.query(`GRANT ${su.escapeIdentifier(group)} TO ${roleList} WITH INHERIT TRUE, SET FALSE GRANTED BY ${su.escapeIdentifier(gate.roles.gate)}`);
    const live: pg.Client[] = [];
    for (let i = 0; i < withSession.length; i += 50) {
      const batch = await Promise.all(
        withSession.slice(i, i + 50).map(async (r) => {
          const c = analystClient(gate, r, rolePassword);
          c.on('error', () => {});
          await c.connect();
          await readPii(c);
          return c;
        }),
      );
      live.push(...batch);
    }
    return live;
  };
  /** Afterwards, untimed: no membership left and every session gone. */
  const checkEnded = async (what: string) => {
    const left = await su.query(
      `SELECT count(*)::int AS n FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member
        WHERE u.rolname = ANY($1) AND m.roleid = $2::regrole`,
      [roles, group],
    );
    const stillUp = await su.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = ANY($1)`, [roles]);
    if (left.rows[0].n !== 0) throw new Error(`${what}: ${left.rows[0].n} memberships left`);
    if (stillUp.rows[0].n !== 0) throw new Error(`${what}: ${stillUp.rows[0].n} sessions left`);
  };

  const sweeper = new GrantSweeper(controlDb(gate.controlPool), gate.services.provisioner, gate.policy);
  type Round = { ms: number; floorMs: number; expired: number; sessionsEnded: number; phases: Record<string, number>; loadavg: number[] };
  const rounds: Round[] = [];
  let sweeps = 0;
  const sweepCase = async (): Promise<Omit<Round, 'floorMs' | 'loadavg'>> => {
    const live = await grantAndConnect();
    // Rows whose window closed a minute ago.
    await controlSu.query(
      `WITH a AS (SELECT id, role_name FROM analysts WHERE username LIKE 'bench%'),
            r AS (INSERT INTO pii_requests (analyst_id, datasets, purpose, duration_seconds, state, review_deadline, approvals_required)
                  SELECT id, '{maintainer_identities}', $2, 60, 'approved', now(), 1 FROM a RETURNING id, analyst_id)
       INSERT INTO pii_grants (request_id, analyst_id, role_name, dataset, group_role, starts_at, expires_at)
       SELECT r.id, a.id, a.role_name, 'maintainer_identities', $1, now() - interval '2 minutes', now() - interval '1 minute'
         FROM r JOIN a ON a.id = r.analyst_id`,
      [group, PURPOSE],
    );
    const phases: Record<string, number> = {};
    const t0 = performance.now();
    const result = await sweeper.sweep(1000, (p, ms) => {
      phases[p] = (phases[p] ?? 0) + ms;
    });
    const ms = performance.now() - t0;
    sweeps++;
    await checkEnded('sweeper');
    const audited = await controlSu.query(`SELECT count(*)::int AS n FROM audit_events WHERE action = 'pii.revoked' AND subject LIKE 'bench%'`);
    if (result.expired !== total) throw new Error(`sweep ${sweeps}: swept ${result.expired} of ${total}`);
    if (result.sessionsEnded !== withSessions) throw new Error(`sweep ${sweeps}: ended ${result.sessionsEnded} of ${withSessions} sessions`);
    if (audited.rows[0].n !== total * sweeps) throw new Error(`sweep ${sweeps}: ${audited.rows[0].n} pii.revoked events`);
    for (const c of live) await c.end().catch(() => {});
    return { ms, expired: result.expired, sessionsEnded: result.sessionsEnded, phases };
  };
  // The floor: what PostgreSQL itself needs for the same end, as a superuser on one connection.
  const floorCase = async (): Promise<number> => {
    const live = await grantAndConnect();
    const t0 = performance.now();
    // The gate granted them, so only its grant is revoked (PostgreSQL 16+ keeps grants per grantor).
    await su.query(`REVOKE ${su.escapeIdentifier(group)} FROM ${roleList} GRANTED BY ${su.escapeIdentifier(gate.roles.gate)}`);
    const ended = await terminateRoleSessions(su, roles);
    await waitUntilGone(su, ended);
    const ms = performance.now() - t0;
    if (ended.length !== withSessions) throw new Error(`floor: ended ${ended.length} of ${withSessions} sessions`);
    await checkEnded('floor');
    for (const c of live) await c.end().catch(() => {});
    return ms;
  };
  for (let round = 0; round < args.rounds; round++) {
    // Alternate which goes first, so neither always runs on a machine just freed of 1,000 exits.
    let floorMs = 0;
    let gateRound: Omit<Round, 'floorMs' | 'loadavg'>;
    if (round % 2 === 0) {
      gateRound = await sweepCase();
      floorMs = await floorCase();
    } else {
      floorMs = await floorCase();
      gateRound = await sweepCase();
    }
    const r = { ...gateRound, floorMs, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100) };
    rounds.push(r);
    say(
      `  round ${round + 1}: sweep ${fmtMs(r.ms, 0)} ms, floor ${fmtMs(floorMs, 0)} ms (x${(r.ms / floorMs).toFixed(2)}); ` +
        `${endPhases.filter((p) => p in r.phases).map((p) => `${p} ${fmtMs(r.phases[p]!, 0)}`).join(', ')}; load ${r.loadavg[0]}`,
    );
  }
  const sweepS = summarize(rounds.map((r) => r.ms));
  const sweepFloorS = summarize(rounds.map((r) => r.floorMs));
  const meanPhase = (p: string) => rounds.reduce((a, r) => a + (r.phases[p] ?? 0), 0) / rounds.length;

  // -- Report -----------------------------------------------------------------------------------------
  const ratio = gateS.median / floorS.median;
  const sweepRatio = sweepS.median / sweepFloorS.median;
  say('');
  say(
    formatTable(
      ['case', 'n', 'median ms', 'p95 ms', 'min ms', 'max ms'],
      [
        ['approval -> first PII read (gate, HTTP)', String(gateS.n), fmtMs(gateS.median), fmtMs(gateS.p95), fmtMs(gateS.min), fmtMs(gateS.max)],
        ['floor: GRANT + SELECT (superuser), session prepared as alice\'s', String(freshFloorS.n), fmtMs(freshFloorS.median), fmtMs(freshFloorS.p95), fmtMs(freshFloorS.min), fmtMs(freshFloorS.max)],
        ['floor: GRANT + SELECT (superuser), one long-used session', String(floorS.n), fmtMs(floorS.median), fmtMs(floorS.p95), fmtMs(floorS.min), fmtMs(floorS.max)],
        [`sweep of ${total} expired grants, ${withSessions} sessions`, String(sweepS.n), fmtMs(sweepS.median, 0), fmtMs(sweepS.p95, 0), fmtMs(sweepS.min, 0), fmtMs(sweepS.max, 0)],
        ['floor: REVOKE + terminate + wait (superuser)', String(sweepFloorS.n), fmtMs(sweepFloorS.median, 0), fmtMs(sweepFloorS.p95, 0), fmtMs(sweepFloorS.min, 0), fmtMs(sweepFloorS.max, 0)],
      ],
    ),
  );
  say('');
  say('Sweep phases, mean ms per sweep (mark and outbox overlap revoke/terminate/wait/check):');
  say(formatTable(['phase', 'mean ms'], endPhases.map((p) => [p, fmtMs(meanPhase(p), 1)])));
  say('');
  const figures: Figure[] = [
    // Two floors, both GRANT + SELECT: on a session in alice's state (connected just before,
    // one refused read), and on one session used all along (the floor of earlier runs). A
    // just-opened session's first table read costs it about 2-3 ms more on this machine.
    figure({ figure: 'approval -> first PII read, median (floor on a session prepared as alice\'s)', result: gateS.median, floor: freshFloorS.median, unit: 'ms', target: { ratioAtMost: APPROVAL_TARGET } }),
    figure({ figure: 'approval -> first PII read, median (floor on one long-used session)', result: gateS.median, floor: floorS.median, unit: 'ms', target: { ratioAtMost: APPROVAL_TARGET } }),
    ...(rounds.length > 0
      ? [
          figure({
            figure: `sweep: ${total} expired grants, ${withSessions} sessions, median`,
            result: sweepS.median,
            floor: sweepFloorS.median,
            unit: 'ms',
            target: { ratioAtMost: SWEEP_TARGET },
          }),
        ]
      : []),
  ];
  say(formatFigures(figures));
  const file = writeJson(args.out, {
    startedAt: startedAt.toISOString(),
    args,
    environment: environment(),
    figures,
    approvalToFirstRead: { gate: gateS, floor: floorS, freshSessionFloor: freshFloorS, ratio, ratioFreshSession: gateS.median / freshFloorS.median, target: APPROVAL_TARGET, breakdown, contextMedians: context },
    sweeper: {
      grants: total,
      sessions: withSessions,
      rounds,
      summary: sweepS,
      floor: sweepFloorS,
      ratio: sweepRatio,
      target: SWEEP_TARGET,
      meanPhasesMs: Object.fromEntries(endPhases.map((p) => [p, meanPhase(p)])),
    },
  });
  say(`Results: ${file}`);
  return 0;
}

/** A statement's shape without its values' noise: the per-run role prefix, long lists. */
function label(sql: string, prefix: string): string {
  return sql.split(prefix).join('<prefix>').slice(0, 110);
}

runBench(defaults, run);
