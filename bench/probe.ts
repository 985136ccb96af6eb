// The probe of issue 10 (security fixes found by probing), rerun after the fixes, against a real
// gate (embedded PostgreSQL with scram auth, the bundled dev issuer), for the closing note:
// 1. Bad input: NUL and unpaired surrogates in a purpose, a review comment and audit filters,
//    ids past int4, dates PostgreSQL cannot store, ttlSeconds of the wrong type, a 10 MB body,
//    then every /api route with junk ids and queries, asked by every live persona. Counted by
//    status class; the figure is the number of 5xx (target 0).
// 2. A saved session cookie replayed after signing out (POST /auth/logout with the page's form
//    token), and a gate token replayed after `fdwg logout` (POST /api/cli/logout): seconds each
//    kept working (0: the first replay is refused).
// 3. The PostgreSQL server frozen for real (SIGSTOP to its postmaster and every backend, the
//    control and the warehouse database alike: they share the cluster): seconds until GET /healthz
//    and a signed-in GET /api/me answer 503 (both asked at once, right after the freeze), and after
//    SIGCONT until /api/me answers 200 again.
// 4. The issuer frozen (it accepts connections and never answers: the dev issuer's 'frozen' fault,
//    as test/oidc-session.test.ts does; it runs in this process, so no SIGSTOP): seconds until
//    GET /auth/login answers 503.
//
//   npm run bench:probe -- [--junk-ids 6] [--replay-seconds 5] [--deadline-seconds 30] [--out tmp/bench/probe.json]
//
// Exit 0 when the run completes: whether a figure meets its target is the figure's PASS/FAIL.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { SESSION_COOKIE } from '../src/auth/oidc.js';
import { SERVING_POOL_TIMEOUTS } from '../src/db/client.js';
import { type TestGate, startGateOn } from '../test/support/gate-core.js';
import { HttpSession, formField } from '../test/support/http-session.js';
import { type Persona, deviceToken, personas, signedInBrowser } from '../test/support/personas.js';
import { gateRoutes } from '../test/support/route-walk.js';
import { type Figure, type FigureTarget, environment, figure, formatFigures, runBench, startCluster, writeJson } from './lib.js';

const say = (s = '') => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (since: number) => (performance.now() - since) / 1000;

const PURPOSE = 'Join the FDWG maintainer roster to pseudonyms for the 2026 activity report.';
const NUL = '\u0000';
const LONE_HIGH = '\ud800';
const LONE_LOW = '\udc00';

/** One answer to bad input: what was sent, what was expected (null: anything but a 5xx), what came. */
interface Answer {
  what: string;
  expected: number | null;
  status: number;
}

/** A figure that must be exactly 0 (figure() knows bounds and ratios only). */
function zero(f: { figure: string; result: number; unit: string }): Figure {
  return { ...figure({ ...f, floor: null }), target: `= 0 ${f.unit}`, pass: f.result === 0 };
}

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

const form = (gate: TestGate, fields: Record<string, string>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(gate.url).origin },
  body: new URLSearchParams(fields).toString(),
});

// --- 1. Bad input ----------------------------------------------------------------------------------

/** The kinds of bad input of the issue, each sent once by someone its route admits. */
async function badInput(gate: TestGate, who: (name: string) => Persona): Promise<Answer[]> {
  const answers: Answer[] = [];
  const send = async (what: string, expected: number | null, as: string, p: string, init: RequestInit = {}) => {
    const res = await who(as).request(p, init);
    await res.arrayBuffer();
    answers.push({ what, expected, status: res.status });
  };
  const alice = who('alice');
  const created = await alice.request('/api/requests', json({ datasets: ['maintainer_identities'], purpose: PURPOSE, durationSeconds: 3600 }));
  const pending = ((await created.json()) as { id?: number }).id;
  if (created.status !== 201 || pending === undefined) throw new Error(`alice's PII request answered ${created.status}`);

  for (const [name, bad] of [['NUL', NUL], ['high surrogate', LONE_HIGH], ['low surrogate', LONE_LOW]] as const) {
    await send(`purpose with ${name} (API)`, 400, 'alice', '/api/requests', json({ datasets: ['message_text'], purpose: `${PURPOSE} ${PURPOSE}${bad}`, durationSeconds: 3600 }));
    await send(`review comment with ${name} (API)`, 400, 'bob', `/api/requests/${pending}/reviews`, json({ decision: 'deny', comment: `no${bad}` }));
  }
  await send('purpose with NUL (form)', 400, 'alice', '/requests', form(gate, { _csrf: alice.csrf!, 'datasets[]': 'message_text', purpose: `${PURPOSE} ${PURPOSE}${NUL}`, durationSeconds: '3600' }));
  await send('review comment with NUL (form)', 400, 'bob', `/approvals/${pending}`, form(gate, { _csrf: who('bob').csrf!, decision: 'deny', comment: `no${NUL}` }));
  await send('JSON key with NUL', 400, 'alice', '/api/credentials', json({ [`ttl${NUL}`]: 3600 }));

  const filters = ['analyst=%00', 'actor=x%00y', 'dataset=%00', 'request=2147483648', 'request=99999999999999999999', 'from=99999', 'from=0000-01-01T00:00:00Z', 'to=%2B275760-09-13T00:00:00.000Z', 'from=-000001-01-01T00:00:00Z'];
  for (const q of filters) {
    for (const page of ['/api/audit/events', '/audit', '/audit/export.csv', '/audit/export.jsonl']) await send(`${page}?${q}`, 400, 'carol', `${page}?${q}`);
  }
  // An unpaired surrogate cannot be written in UTF-8: its CESU-8 bytes, which a decoder may replace
  // with U+FFFD (then it is a name like any other). Not one of the issue's cases: any answer but a 5xx.
  for (const page of ['/api/audit/events', '/audit']) await send(`${page}?analyst=%ED%A0%80`, null, 'carol', `${page}?analyst=%ED%A0%80`);
  for (const p of ['/api/audit/events/99999999999999999999', '/api/audit/events/0', '/api/audit/events/%00']) await send(`GET ${p}`, 400, 'carol', p);
  for (const p of ['/api/requests/2147483648/withdraw', '/api/requests/1x/reviews', '/api/grants/2147483648/revoke']) await send(`POST ${p}`, 400, 'bob', p, json({}));
  await send('timeline of al%00ice', 400, 'carol', '/audit/analysts/al%00ice');

  for (const [label, ttl] of [['true', true], ['[5]', [5]], ['"0x10"', '0x10']] as const) {
    await send(`ttlSeconds ${label}`, 400, 'alice', '/api/credentials', json({ ttlSeconds: ttl }));
  }
  const big = 'x'.repeat(10 * 1024 * 1024);
  await send('10 MB JSON body', 413, 'alice', '/api/requests', json({ datasets: ['message_text'], purpose: big, durationSeconds: 3600 }));
  await send('10 MB form body', 413, 'alice', '/requests', form(gate, { _csrf: alice.csrf!, 'datasets[]': 'message_text', purpose: big, durationSeconds: '3600' }));
  return answers;
}

/** Ids and queries no route should choke on: past int4, not numbers, NUL, bytes that are not UTF-8. */
const JUNK_IDS = ['2147483648', '99999999999999999999', '-1', '1x', '%00', '%ff%fe', '..%2f', '0x10', 'NaN', '%ED%A0%80'];
const JUNK_QUERY = 'limit=-1&offset=1e9&from=99999&to=%2B275760-09-13&analyst=%00&request=2147483648&x=%ff';

/** Every /api route, every live persona, each junk id (routes with a parameter) and a junk query. */
async function junkWalk(gate: TestGate, people: Persona[], junkIds: number): Promise<Answer[]> {
  const routes = gateRoutes(gate).filter((r) => r.path.startsWith('/api/'));
  const answers: Answer[] = [];
  const ids = JUNK_IDS.slice(0, Math.max(1, junkIds));
  for (const route of routes) {
    const hasParam = /:[A-Za-z_]+/.test(route.path);
    const paths = hasParam ? ids.map((id) => route.path.replace(/:([A-Za-z_]+)(\{[^}]*\})?/g, id)) : [route.path];
    for (const p of paths) {
      for (const who of people) {
        // `fdwg logout` with the token persona would end it for the rest of the walk.
        if (route.actions.includes('signout') && who.via === 'bearer') continue;
        const init: RequestInit =
          route.method === 'GET'
            ? { method: 'GET' }
            : { method: route.method, headers: { 'content-type': 'application/json', origin: gate.url }, body: '{"id":"%00","ttlSeconds":"0x10","comment":"\\u0000"}' };
        const res = await who.request(`${p}?${JUNK_QUERY}`, init);
        await res.arrayBuffer();
        answers.push({ what: `${route.method} ${p} as ${who.name}`, expected: null, status: res.status });
      }
    }
  }
  return answers;
}

// --- 2. Replays after signing out ------------------------------------------------------------------

interface Replay {
  /** Seconds the saved cookie or token kept working after the sign-out answered (0: refused at once). */
  seconds: number;
  /** Whether it still worked when we stopped asking (then `seconds` is a lower bound). */
  stillWorking: boolean;
  first: { me: number; issue: number };
}

/**
 * Replays `headers` on GET /api/me and POST /api/credentials until both are refused or `limitMs`
 * passes, from the moment `signedOutAt` (performance.now()) the sign-out answered.
 */
async function replayUntilRefused(gate: TestGate, headers: Record<string, string>, signedOutAt: number, limitMs: number): Promise<Replay> {
  let first: Replay['first'] | undefined;
  const works = (s: number) => s >= 200 && s < 300;
  for (;;) {
    const asked = performance.now();
    const r = await replay(gate, headers);
    first ??= r;
    if (!works(r.me) && !works(r.issue)) {
      // The first replay refused: 0. Else the time from the sign-out to the replay that was refused.
      const refusedAtOnce = r === first;
      return { seconds: refusedAtOnce ? 0 : (asked - signedOutAt) / 1000, stillWorking: false, first };
    }
    if (performance.now() - signedOutAt > limitMs) return { seconds: seconds(signedOutAt), stillWorking: true, first };
    await sleep(100);
  }
}

/** The saved cookie or token on GET /api/me and POST /api/credentials (a new password). */
async function replay(gate: TestGate, headers: Record<string, string>) {
  const me = await fetch(`${gate.url}/api/me`, { headers, redirect: 'manual' });
  await me.arrayBuffer();
  const issue = await fetch(`${gate.url}/api/credentials`, { ...json({}), headers: { ...headers, 'content-type': 'application/json', origin: gate.url }, redirect: 'manual' });
  await issue.arrayBuffer();
  return { me: me.status, issue: issue.status };
}

async function cookieAfterLogout(gate: TestGate, limitMs: number): Promise<Replay & { control: { me: number; issue: number }; logout: number }> {
  const b = await signedInBrowser(gate, 'alice');
  const saved = b.s.cookie('localhost', SESSION_COOKIE);
  if (!saved) throw new Error('no session cookie after signing in');
  const headers = { cookie: `${SESSION_COOKIE}=${saved}` };
  // The replay itself must work while the session lives, or a refusal after would prove nothing.
  const control = await replayOnce(gate, headers);
  // The page's sign-out form, with its form token, as the browser posts it.
  const page = await b.s.request(`${gate.url}/`);
  const csrf = formField(await page.text(), '_csrf') ?? b.csrf;
  const out = await b.s.request(`${gate.url}/auth/logout`, form(gate, { _csrf: csrf }));
  await out.arrayBuffer();
  const signedOutAt = performance.now();
  if (out.status !== 303) throw new Error(`POST /auth/logout answered ${out.status}`);
  return { ...(await replayUntilRefused(gate, headers, signedOutAt, limitMs)), control, logout: out.status };
}

async function tokenAfterLogout(gate: TestGate, limitMs: number): Promise<Replay & { control: { me: number; issue: number }; logout: number }> {
  // Its own browser session: signing that one out would end the token too, and prove less.
  const b = await signedInBrowser(gate, 'alice');
  const token = await deviceToken(gate, b.s, b.csrf);
  const headers = { authorization: `Bearer ${token}` };
  const control = await replayOnce(gate, headers);
  const out = await fetch(`${gate.url}/api/cli/logout`, { method: 'POST', headers });
  await out.arrayBuffer();
  const signedOutAt = performance.now();
  if (out.status !== 200) throw new Error(`POST /api/cli/logout answered ${out.status}`);
  return { ...(await replayUntilRefused(gate, headers, signedOutAt, limitMs)), control, logout: out.status };
}

async function replayOnce(gate: TestGate, headers: Record<string, string>) {
  const r = await replay(gate, headers);
  if (r.me !== 200 || r.issue !== 201) throw new Error(`before signing out, the replay answered ${r.me} (GET /api/me) and ${r.issue} (POST /api/credentials)`);
  return r;
}

// --- 3. and 4. Outages -------------------------------------------------------------------------------

/** One request with a deadline: its status (0: no answer in time) and seconds. */
async function timed(url: string, init: RequestInit & { as?: HttpSession } = {}, deadlineMs = 30_000) {
  const started = performance.now();
  const { as, ...rest } = init;
  try {
    const signal = AbortSignal.timeout(deadlineMs);
    const res = as ? await as.request(url, { ...rest, signal }) : await fetch(url, { ...rest, signal, redirect: 'manual' });
    const text = await res.text();
    return { status: res.status, text, seconds: seconds(started) };
  } catch {
    return { status: 0, text: '', seconds: seconds(started) };
  }
}

/** Polls until `url` answers `status` or the deadline passes; seconds from the start. */
async function until(url: string, status: number, as: HttpSession | undefined, deadlineMs: number) {
  const started = performance.now();
  for (;;) {
    const r = await timed(url, { as }, 5_000);
    if (r.status === status || performance.now() - started > deadlineMs) return { status: r.status, seconds: seconds(started) };
    await sleep(100);
  }
}

/** The postmaster of the cluster in `dataDir` and every process it started (its backends). */
function clusterPids(dataDir: string): number[] {
  const postmaster = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  if (!Number.isInteger(postmaster) || postmaster <= 1) throw new Error(`no postmaster pid in ${dataDir}`);
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name is in parentheses and may hold spaces: the parent pid is the 2nd field after it.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === postmaster) children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return [postmaster, ...children];
}

// --- The run -----------------------------------------------------------------------------------------

runBench({ junkIds: 6, replaySeconds: 5, deadlineSeconds: 30, out: 'tmp/bench/probe.json' }, async (args, cleanup) => {
  const t0 = performance.now();
  const cluster = await startCluster({ tmpPrefix: 'fdwg-bench-probe-' });
  cleanup.add('cluster', () => cluster.stop());
  const gate = await startGateOn(cluster.superuserUrl, { demoMessages: 200, logSink: () => {}, config: { cliPollSeconds: 1 } });
  cleanup.add('gate', () => gate.close());
  const deadlineMs = args.deadlineSeconds * 1000;
  say(`probe: gate up in ${seconds(t0).toFixed(1)} s; load ${environment().loadavg.join(' ')}`);

  // 1. Bad input.
  const people = (await personas(gate)).filter((p) => !p.dead);
  const who = (name: string) => people.find((p) => p.name === name) ?? (() => { throw new Error(`no persona ${name}`); })();
  const t1 = performance.now();
  const targeted = await badInput(gate, who);
  const walked = await junkWalk(gate, people, args.junkIds);
  const all = [...targeted, ...walked];
  const byClass = new Map<string, number>();
  for (const a of all) byClass.set(`${Math.floor(a.status / 100)}xx`, (byClass.get(`${Math.floor(a.status / 100)}xx`) ?? 0) + 1);
  const fives = all.filter((a) => a.status >= 500);
  const offTarget = targeted.filter((a) => a.expected !== null && a.status !== a.expected);
  say(`1. bad input: ${targeted.length} targeted requests + ${walked.length} of the /api junk walk in ${seconds(t1).toFixed(1)} s`);
  say(`   by class: ${[...byClass.entries()].sort().map(([k, n]) => `${k} ${n}`).join(', ')}; 5xx: ${fives.length}`);
  for (const a of fives) say(`   5xx: ${a.what} -> ${a.status}`);
  for (const a of offTarget) say(`   not the expected ${a.expected}: ${a.what} -> ${a.status}`);
  for (const a of targeted.filter((x) => x.expected === null)) say(`   (any but 5xx) ${a.what} -> ${a.status}`);

  // 2. Saved cookie and token after signing out.
  const cookie = await cookieAfterLogout(gate, args.replaySeconds * 1000);
  const token = await tokenAfterLogout(gate, args.replaySeconds * 1000);
  for (const [name, r] of [['browser cookie after POST /auth/logout', cookie], ['gate token after POST /api/cli/logout', token]] as const) {
    say(`2. ${name}: before ${r.control.me}/${r.control.issue}, first replay after ${r.first.me} (GET /api/me) / ${r.first.issue} (POST /api/credentials); kept working ${r.seconds.toFixed(2)} s${r.stillWorking ? ' (still working when we stopped)' : ''}`);
  }

  // 4. The issuer frozen (before the database: a frozen cluster leaves nothing else to measure with).
  gate.issuer.setFault('frozen');
  let issuerLogin: Awaited<ReturnType<typeof timed>>;
  try {
    issuerLogin = await timed(`${gate.url}/auth/login`, {}, deadlineMs);
  } finally {
    gate.issuer.setFault(null);
  }
  const issuerBack = await until(`${gate.url}/auth/login`, 302, undefined, deadlineMs);
  say(`4. issuer frozen: GET /auth/login ${issuerLogin.status} in ${issuerLogin.seconds.toFixed(2)} s; healed: 302 after ${issuerBack.seconds.toFixed(2)} s`);

  // 3. PostgreSQL frozen by SIGSTOP.
  const alice = await signedInBrowser(gate, 'alice');
  const before = await timed(`${gate.url}/api/me`, { as: alice.s });
  if (before.status !== 200) throw new Error(`GET /api/me before the freeze answered ${before.status}`);
  const pids = clusterPids(path.join(cluster.dir, 'pg'));
  let frozen = false;
  const thaw = () => {
    if (!frozen) return;
    frozen = false;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Gone: nothing to wake.
      }
    }
  };
  // Runs before the cluster's stop (steps run in reverse), so an interrupted run never leaves it stopped.
  cleanup.add('thaw PostgreSQL', thaw);
  frozen = true;
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  const [health, me] = await Promise.all([timed(`${gate.url}/healthz`, {}, deadlineMs), timed(`${gate.url}/api/me`, { as: alice.s }, deadlineMs)]);
  let healthDown: string[] = [];
  try {
    healthDown = (JSON.parse(health.text) as { down?: string[] }).down ?? [];
  } catch {
    // Not JSON: the status says enough.
  }
  thaw();
  const back = await until(`${gate.url}/api/me`, 200, alice.s, deadlineMs);
  say(`3. PostgreSQL frozen (SIGSTOP to ${pids.length} processes): /healthz ${health.status} in ${health.seconds.toFixed(2)} s (down: ${healthDown.join(', ') || '-'}), /api/me ${me.status} in ${me.seconds.toFixed(2)} s; after SIGCONT /api/me ${back.status} after ${back.seconds.toFixed(2)} s`);

  // A 503 that never came (another status, or none in time) fails its figure whatever the time.
  const to503 = (name: string, r: { status: number; seconds: number }, target: FigureTarget): Figure => {
    const f = figure({ figure: `${name} to 503${r.status === 503 ? '' : ` (got ${r.status || 'no answer'})`}`, result: r.seconds, floor: null, unit: 's', target });
    return { ...f, pass: f.pass === true && r.status === 503 };
  };
  const figures: Figure[] = [
    zero({ figure: `bad input: 5xx answers (of ${all.length} requests)`, result: fives.length, unit: 'answers' }),
    figure({ figure: 'bad input: requests sent (info)', result: all.length, floor: null, unit: 'requests' }),
    figure({ figure: `bad input: targeted cases not the expected 400/413 (of ${targeted.filter((a) => a.expected !== null).length}) (info)`, result: offTarget.length, floor: null, unit: 'answers' }),
    zero({ figure: `saved browser cookie after logout: seconds it kept working${cookie.stillWorking ? ' (at least)' : ''}`, result: cookie.seconds, unit: 's' }),
    zero({ figure: `gate token after fdwg logout: seconds it kept working${token.stillWorking ? ' (at least)' : ''}`, result: token.seconds, unit: 's' }),
    // The tests' bounds: test/outages.test.ts (/healthz < 3.5 s), test/oidc-session.test.ts (< 8 s).
    to503('PostgreSQL frozen (SIGSTOP): GET /healthz', health, { below: 3.5 }),
    // No test bounds this one (test/outages.test.ts lowers the pool's query timeout to 6 s and waits
    // 20 s); the gate serves with SERVING_POOL_TIMEOUTS, so its query timeout is what this measures.
    to503(`PostgreSQL frozen (SIGSTOP): GET /api/me signed in (query timeout ${SERVING_POOL_TIMEOUTS.queryTimeoutMillis / 1000} s)`, me, { below: 5 }),
    figure({ figure: `PostgreSQL after SIGCONT: GET /api/me back to 200${back.status === 200 ? '' : ` (got ${back.status})`} (info)`, result: back.seconds, floor: null, unit: 's' }),
    to503('issuer frozen: GET /auth/login', issuerLogin, { below: 8 }),
  ];
  say();
  say(formatFigures(figures));
  say(`total ${seconds(t0).toFixed(1)} s; load ${environment().loadavg.join(' ')}`);
  say(
    `results: ${writeJson(args.out, {
      environment: environment(),
      args,
      figures,
      badInput: {
        byClass: Object.fromEntries(byClass),
        fives,
        targeted,
        offTarget,
        walked: walked.length,
        walkStatuses: Object.fromEntries([...new Set(walked.map((a) => a.status))].map((s) => [s, walked.filter((a) => a.status === s).length])),
      },
      replay: { cookie, token },
      postgresFrozen: { processes: pids.length, healthz: { status: health.status, seconds: health.seconds, down: healthDown }, me: { status: me.status, seconds: me.seconds }, recovery: back },
      issuerFrozen: { login: { status: issuerLogin.status, seconds: issuerLogin.seconds }, healed: issuerBack },
    })}`,
  );
  return 0;
});
