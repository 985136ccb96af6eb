// Bench: the sign-in round trip with the extra UserInfo call that Fedora Accounts (Ipsilon) needs,
// against the same flow without it, in one run (issue 9).
//
//   npm run bench:signin -- [--n 50] [--warmup 5] [--out tmp/bench/signin.json]
//
// Two gates on one fresh embedded PostgreSQL, each with its own dev issuer:
//   userinfo  the Ipsilon-like issuer (claims only from UserInfo), OIDC_CLAIMS_SOURCE=userinfo;
//   id_token  an issuer that puts the claims in the ID token, OIDC_CLAIMS_SOURCE=id_token (the floor:
//             the same flow less the UserInfo call).
// Timed: GET /auth/callback?code=… (code exchange, UserInfo, session row, login audit) and the
// redirect to the first page, until its HTML is read. The walk to the issuer's login form and the
// password post are untimed (each iteration uses a fresh browser, so a fresh issuer session).
// Cases run interleaved, rotating order each iteration. Exit 0 when the run completes.
import { startGateOn } from '../test/support/gate-core.js';
import { HttpSession } from '../test/support/http-session.js';
import { type Figure, environment, figure, fmtMs, formatFigures, formatTable, runBench, runInterleaved, startCluster, summarize, writeJson } from './lib.js';

const say = (s = '') => process.stdout.write(`${s}\n`);

/** Walks a fresh browser to the gate's callback URL (the issuer's redirect), untimed. */
async function toCallback(gateUrl: string): Promise<{ session: HttpSession; callback: URL }> {
  const session = new HttpSession();
  const start = await session.follow(`${gateUrl}/auth/login`);
  const action = (await start.res.text()).match(/<form[^>]*action="([^"]*\/login)"/)?.[1];
  if (!action) throw new Error(`no login form at ${start.url}`);
  let res = await session.request(new URL(action.replace(/&amp;/g, '&'), start.url), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: start.url.origin },
    body: new URLSearchParams({ username: 'alice', password: 'alice-demo' }).toString(),
  });
  let url = new URL(res.headers.get('location')!, start.url);
  while (!url.pathname.startsWith('/auth/callback')) {
    await res.arrayBuffer();
    res = await session.request(url);
    url = new URL(res.headers.get('location')!, url);
  }
  await res.arrayBuffer();
  return { session, callback: url };
}

runBench({ n: 50, warmup: 5, out: 'tmp/bench/signin.json' }, async (args, cleanup) => {
  const cluster = await startCluster({ tmpPrefix: 'fdwg-bench-signin-' });
  cleanup.add('cluster', () => cluster.stop());
  const [withUserinfo, idTokenOnly] = await Promise.all([
    startGateOn(cluster.superuserUrl, { demoMessages: 200, logSink: () => {} }),
    startGateOn(cluster.superuserUrl, {
      demoMessages: 200,
      logSink: () => {},
      config: { oidc: { claimsSource: 'id_token' } },
      issuer: { claimsInIdToken: true },
    }),
  ]);
  cleanup.add('gates', () => Promise.all([withUserinfo.close(), idTokenOnly.close()]));

  const signInCase = (name: string, gateUrl: string) => ({
    name,
    prepare: () => toCallback(gateUrl),
    run: async (input: unknown) => {
      const { session, callback } = input as Awaited<ReturnType<typeof toCallback>>;
      const { res, url } = await session.follow(callback);
      const html = await res.text();
      return { status: res.status, path: url.pathname, html };
    },
    check: (output: unknown) => {
      const o = output as { status: number; path: string; html: string };
      if (o.status !== 200 || o.path !== '/' || !o.html.includes('alice')) throw new Error(`${name}: sign-in ended at ${o.path} with ${o.status}`);
    },
  });
  const { samples } = await runInterleaved([signInCase('userinfo', withUserinfo.url), signInCase('id_token', idTokenOnly.url)], {
    warmup: args.warmup,
    iterations: args.n,
    onProgress: (done, total) => {
      if (done % 10 === 0 || done === total) process.stderr.write(`  ${done}/${total}\n`);
    },
  });
  const a = summarize(samples.userinfo!);
  const b = summarize(samples.id_token!);
  say(`Sign-in round trip (callback to first page), ${args.n} each, interleaved:`);
  say(
    formatTable(
      ['flow', 'median ms', 'p95 ms'],
      [
        ['with UserInfo (Ipsilon)', fmtMs(a.median), fmtMs(a.p95)],
        ['ID token only (floor)', fmtMs(b.median), fmtMs(b.p95)],
      ],
    ),
  );
  say(`ratio (median): x${(a.median / b.median).toFixed(2)}; ratio (p95): x${(a.p95 / b.p95).toFixed(2)}`);
  // No target was set for this one (issue 9): the figures are for information.
  const figures: Figure[] = [
    figure({ figure: 'sign-in with UserInfo, callback to first page, median (info)', result: a.median, floor: b.median, unit: 'ms' }),
    figure({ figure: 'sign-in with UserInfo, callback to first page, p95 (info)', result: a.p95, floor: b.p95, unit: 'ms' }),
  ];
  say(formatFigures(figures));
  say(`results: ${writeJson(args.out, { environment: environment(), figures, userinfo: a, idToken: b, ratioMedian: a.median / b.median, ratioP95: a.p95 / b.p95 })}`);
  return 0;
});
