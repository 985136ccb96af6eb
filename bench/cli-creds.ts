// Bench: `fdwg creds` to the first successful psql query (issue 11), wall time, against psql alone
// with a password already in place, in the same run.
//
//   npm run bench:cli -- [--n 5] [--warmup 1] [--out tmp/bench/cli-creds.json]
//
// One gate on a fresh embedded PostgreSQL. alice signs in through the issuer's form (an HTTP client
// walking the real pages, untimed), accepts the agreement, and signs the CLI in by the device flow
// (`fdwg login --device`, confirmed on the gate's page). Then, interleaved with rotating order:
//   creds+psql   `node bin/fdwg.mjs creds` (new password, ~/.pgpass and ~/.pg_service.conf written),
//                then `psql service=fdwg -c 'select count(*) from pseudonymized.messages'`;
//   psql         the same psql alone, with the password the last creds wrote (the floor);
//   creds        `fdwg creds` alone, and
//   startup      `fdwg --help` (node + tsx + the CLI's modules, no network): where the time goes.
// Every case is a new process, as a person at a terminal runs it. Exit 0 when the run completes.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type CliResult, cliEnv, psql, runCli, startCli } from '../test/support/cli.js';
import { startGateOn } from '../test/support/gate-core.js';
import { HttpSession, formField, signIn } from '../test/support/http-session.js';
import { type Figure, environment, figure, fmtMs, formatFigures, formatTable, runBench, runInterleaved, startCluster, summarize, writeJson } from './lib.js';

const say = (s = '') => process.stdout.write(`${s}\n`);
const QUERY = 'select count(*) from pseudonymized.messages';

function ok(what: string, r: CliResult): CliResult {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  return r;
}

runBench({ n: 5, warmup: 1, out: 'tmp/bench/cli-creds.json' }, async (args, cleanup) => {
  const cluster = await startCluster({ tmpPrefix: 'fdwg-bench-cli-' });
  cleanup.add('cluster', () => cluster.stop());
  const gate = await startGateOn(cluster.superuserUrl, { demoMessages: 1500, logSink: () => {} });
  cleanup.add('gate', () => gate.close());
  const home = mkdtempSync(path.join(os.tmpdir(), 'fdwg-bench-home-'));
  cleanup.add('home', () => rmSync(home, { recursive: true, force: true }));
  const env = cliEnv(gate.url, home);

  // alice in a "browser": signed in, agreement accepted.
  const browser = new HttpSession();
  await signIn(browser, gate.url, 'alice', 'alice-demo');
  const start = await (await browser.follow(`${gate.url}/`)).res.text();
  await browser.postForm(`${gate.url}/agreement`, { _csrf: formField(start, '_csrf') ?? '', version: gate.policy.agreement.version });

  // The CLI signs in by the device flow, confirmed on the gate's page.
  const login = startCli(['login', '--device'], env);
  const [, complete] = await login.waitFor(/Or open (\S+) \(the code is filled in\)/);
  const page = await (await browser.follow(complete!)).res.text();
  const confirmed = await browser.postForm(`${gate.url}/cli/device`, {
    _csrf: formField(page, '_csrf') ?? '',
    userCode: formField(page, 'userCode') ?? '',
    decision: 'allow',
  });
  if (confirmed.res.status !== 200) throw new Error(`device confirmation: HTTP ${confirmed.res.status}`);
  ok('fdwg login --device', await login.done);
  ok('first fdwg creds', await runCli(['creds'], env));

  const checkPsql = (what: string) => (r: unknown) => {
    const out = ok(what, r as CliResult).stdout.trim();
    if (!/^\d+$/.test(out)) throw new Error(`${what}: unexpected answer ${out}`);
  };
  const { samples } = await runInterleaved(
    [
      {
        name: 'creds+psql',
        run: async () => {
          ok('fdwg creds', await runCli(['creds'], env));
          return psql(['service=fdwg', '-c', QUERY], env);
        },
        check: checkPsql('creds+psql'),
      },
      { name: 'psql', run: () => psql(['service=fdwg', '-c', QUERY], env), check: checkPsql('psql') },
      { name: 'creds', run: () => runCli(['creds'], env), check: (r) => void ok('fdwg creds', r as CliResult) },
      { name: 'startup', run: () => runCli(['--help'], env), check: (r) => void ok('fdwg --help', r as CliResult) },
    ],
    { warmup: args.warmup, iterations: args.n, onProgress: (done, total) => process.stderr.write(`  ${done}/${total}\n`) },
  );
  const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
  say(`fdwg creds to the first psql query, wall time, ${args.n} runs each (new processes), interleaved:`);
  say(
    formatTable(
      ['case', 'median ms', 'min ms', 'max ms'],
      [
        ['fdwg creds, then psql (the figure)', 'creds+psql'],
        ['psql alone, password in place (floor)', 'psql'],
        ['fdwg creds alone', 'creds'],
        ['fdwg --help (process start)', 'startup'],
      ].map(([label, k]) => [label!, fmtMs(s[k!]!.median, 0), fmtMs(s[k!]!.min, 0), fmtMs(s[k!]!.max, 0)]),
    ),
  );
  const ratio = s['creds+psql']!.median / s.psql!.median;
  say(`creds+psql / psql (median): x${ratio.toFixed(1)}; added by fdwg creds: ${fmtMs(s['creds+psql']!.median - s.psql!.median, 0)} ms`);
  // No target was set (issue 11): information.
  const figures: Figure[] = [figure({ figure: 'fdwg creds then psql, median (info)', result: s['creds+psql']!.median, floor: s.psql!.median, unit: 'ms' })];
  say(formatFigures(figures));
  say(`results: ${writeJson(args.out, { environment: environment(), figures, query: QUERY, ...s, ratioMedian: ratio })}`);
  return 0;
});
