// Every bench in turn, each as its own process, and one summary table of their figures.
//
//   npm run bench:all -- [--only pii-grants,audit] [--full] [--limit-seconds 420] [--out tmp/bench/all.json]
//
// Each bench writes `figures` (bench/lib.ts, Figure) into the JSON file it is given with --out
// (tmp/bench/all/<name>.json, its output in <name>.log beside it); this runner reads them and prints
// bench, figure, result, floor, ratio, target, PASS/FAIL. Sizes are chosen so the whole run stays
// under about 8 minutes on 2 quiet cores (on a machine loaded by others, expect twice that or more:
// each bench prints its load average); where they are smaller than the bench's own defaults
// the table says so (`--full` runs the defaults). A bench that exits non-zero, writes no figures or
// runs past --limit-seconds (then it gets SIGTERM and cleans up) is a FAIL row with its exit code;
// the runner goes on with the next.
//
// Exit code: 0 when every bench ran and every figure with a target passed; 1 otherwise (so CI can
// gate on it: on a loaded machine a ratio may fail, and the table says which); 2 on a usage error.
// The JSON (tmp/bench/all.json) has the commit, environment() before and after, and every row.
import { spawn, execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { type Figure, environment, figureRows, FIGURE_HEADER, formatTable, parseArgs, repoRoot, writeJson } from './lib.js';

interface BenchEntry {
  /** Short name: the row label, --only, and the file names under tmp/bench/all/. */
  name: string;
  script: string;
  /** Node flags the bench needs (before the script). */
  node?: string[];
  /** Smaller sizes for this run, said in the table; `--full` drops them. */
  args?: string[];
}

/** The benches, in the order they run. Add new ones here (one line each). */
export const BENCHES: BenchEntry[] = [
  { name: 'credential-issue', script: 'bench/credential-issue.ts', args: ['--n', '100', '--warmup', '10'] },
  { name: 'api-decision', script: 'bench/api-decision.ts', args: ['--seconds', '8', '--rounds', '3'] },
  { name: 'pii-grants', script: 'bench/pii-grants.ts', args: ['--n', '20', '--grants', '500', '--sessions', '500', '--rounds', '2'] },
  { name: 'audit', script: 'bench/audit.ts', node: ['--expose-gc'], args: ['--events', '100000', '--iterations', '60', '--verify-runs', '2'] },
  // 15 rounds: the per-analyst figure is a difference of two applies (about 20 ms for 1,000 grants on a 150+ ms fixed part); its 5-round median swung 1.1-3.1x between runs.
  { name: 'reconcile', script: 'bench/reconcile.ts', args: ['--iterations', '8', '--rounds', '15'] },
  { name: 'signin', script: 'bench/signin.ts', args: ['--n', '50'] },
  { name: 'cli-creds', script: 'bench/cli-creds.ts', args: ['--n', '5'] },
  { name: 'access', script: 'bench/access.ts', args: ['--iterations', '20'] },
  { name: 'metrics-cost', script: 'bench/metrics-cost.ts', args: ['--iterations', '20', '--seconds', '3', '--rounds', '2'] },
  // The issue's sizes: the report's target is defined at 1M events, the top-off's at 200,000 messages.
  { name: 'subjects', script: 'bench/subjects.ts', args: ['--iterations', '30', '--warmup', '3', '--statements', '4000'] },
  { name: 'tiers', script: 'bench/tiers.ts', args: ['--messages', '200000'] },
  { name: 'probe', script: 'bench/probe.ts', args: ['--junk-ids', '4', '--replay-seconds', '3', '--deadline-seconds', '20'] },
];

interface Row extends Partial<Figure> {
  bench: string;
  /** The bench's exit code (null: killed by a signal). */
  exitCode: number | null;
  /** Why a bench has no figure row of its own: it failed, or wrote none. */
  error?: string;
}

const say = (s = '') => process.stdout.write(`${s}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(0)} s`;

function commit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

/** Runs one bench to its end (or its time limit); its output goes to `log`. */
function runOne(b: BenchEntry, args: string[], log: string, limitMs: number): Promise<{ code: number | null; signal: string | null; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(log);
    const child = spawn(path.join(repoRoot, 'node_modules', '.bin', 'tsx'), [...(b.node ?? []), b.script, ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    let timedOut = false;
    // SIGTERM: the bench's Cleanup stops its PostgreSQL and removes its directory.
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, limitMs);
    // Passed on, so ^C does not leave a bench (and its PostgreSQL) running.
    const forward = () => child.kill('SIGTERM');
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      out.end(() => resolve({ code, signal, timedOut }));
    });
  });
}

function lastLines(file: string, n: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).map((l) => `    | ${l}`).join('\n');
  } catch {
    return '';
  }
}

async function main(): Promise<number> {
  const opts = parseArgs({ only: '', full: false, limitSeconds: 420, out: 'tmp/bench/all.json' });
  const names = opts.only ? opts.only.split(',').map((s) => s.trim()) : BENCHES.map((b) => b.name);
  const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length > 0) throw new Error(`--only: unknown bench ${unknown.join(', ')} (known: ${BENCHES.map((b) => b.name).join(', ')})`);
  const chosen = BENCHES.filter((b) => names.includes(b.name));
  const dir = path.join(repoRoot, 'tmp', 'bench', 'all');
  mkdirSync(dir, { recursive: true });
  const startedAt = new Date();
  const envBefore = environment();
  const sha = commit();
  say(`bench:all at ${sha}: ${chosen.length} benches, each as its own process; load ${envBefore.loadavg.join(' ')}`);
  const rows: Row[] = [];
  const runs: Array<{ bench: string; args: string[]; seconds: number; exitCode: number | null; log: string; json: string }> = [];
  const t0 = performance.now();
  for (const [i, b] of chosen.entries()) {
    const json = path.join(dir, `${b.name}.json`);
    const log = path.join(dir, `${b.name}.log`);
    rmSync(json, { force: true });
    const args = [...(opts.full ? [] : (b.args ?? [])), '--out', json];
    say(`[${i + 1}/${chosen.length}] ${b.name}: tsx ${[...(b.node ?? []), b.script, ...args].join(' ')}  (elapsed ${secs(performance.now() - t0)})`);
    const started = performance.now();
    const ticker = setInterval(() => say(`      ... ${b.name} running ${secs(performance.now() - started)} (total ${secs(performance.now() - t0)})`), 30_000);
    const r = await runOne(b, args, log, opts.limitSeconds * 1000).finally(() => clearInterval(ticker));
    const seconds = (performance.now() - started) / 1000;
    runs.push({ bench: b.name, args, seconds, exitCode: r.code, log: path.relative(repoRoot, log), json: path.relative(repoRoot, json) });
    let figures: Figure[] = [];
    let problem: string | undefined;
    try {
      const data = JSON.parse(readFileSync(json, 'utf8')) as { figures?: Figure[] };
      if (Array.isArray(data.figures) && data.figures.length > 0) figures = data.figures;
      else problem = 'wrote no figures';
    } catch {
      problem = existsSync(json) ? 'its JSON did not parse' : 'wrote no results';
    }
    if (r.timedOut) problem = `stopped after --limit-seconds ${opts.limitSeconds}`;
    else if (r.code !== 0) problem = r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`;
    // A bench that failed still shows the figures it wrote (they are from this run), plus its FAIL row.
    for (const f of figures) rows.push({ bench: b.name, exitCode: r.code, ...f });
    if (problem) rows.push({ bench: b.name, exitCode: r.code, error: problem, pass: false });
    const failed = figures.filter((f) => f.pass === false).length;
    say(`      ${problem ? `FAIL (${problem})` : 'done'} in ${seconds.toFixed(0)} s: ${figures.length} figures${failed ? `, ${failed} missed the target` : ''}; log ${path.relative(repoRoot, log)}`);
    if (problem) say(lastLines(log, 8));
  }

  const envAfter = environment();
  const sized = (name: string) => (opts.full ? '' : BENCHES.find((b) => b.name === name)?.args ? '*' : '');
  say('');
  say(
    formatTable(
      ['bench', ...FIGURE_HEADER],
      rows.flatMap((r) =>
        r.error
          ? [[`${r.bench}${sized(r.bench)}`, `(${r.error})`, '-', '-', '-', '-', 'FAIL']]
          : figureRows([r as Row & Figure], () => [`${r.bench}${sized(r.bench)}`]),
      ),
    ),
  );
  if (!opts.full) say('* smaller sizes than the bench\'s defaults (see bench/all.ts; --full for the defaults)');
  const failures = rows.filter((r) => r.pass === false);
  const passed = rows.filter((r) => r.pass === true).length;
  say(`${passed} targets met, ${failures.length} not (or a bench failed); ${rows.filter((r) => r.pass === null).length} figures for information.`);
  say(`Total ${secs(performance.now() - t0)}; load before ${envBefore.loadavg.join(' ')}, after ${envAfter.loadavg.join(' ')}.`);
  const file = writeJson(opts.out, {
    commit: sha,
    startedAt: startedAt.toISOString(),
    totalSeconds: (performance.now() - t0) / 1000,
    full: opts.full,
    environment: envBefore,
    environmentAfter: envAfter,
    runs,
    rows,
    pass: failures.length === 0,
  });
  say(`Results: ${path.relative(process.cwd(), file) || file}`);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const usage = err instanceof Error && /^(unknown option|unexpected argument|--)/.test(err.message);
    process.stderr.write(`bench:all failed: ${err instanceof Error ? (usage ? err.message : (err.stack ?? err.message)) : String(err)}\n`);
    process.exit(usage ? 2 : 1);
  },
);
