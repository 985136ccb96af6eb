// Bench (issue 17): one day's top-off from `\COPY` files into a Datanommer replica and its tiers.
//
//   floor   the same files loaded with psql's plain `\copy` into unindexed tables of the same
//           layout (no parsing, no pseudonyms, no indexes, no leak guard): what moving the bytes costs.
//   topoff  `topoff()` (src/tiers/topoff.ts) as `npm run tiers -- topoff` runs it: the day into the
//           indexed source tables and the tiers, staged, leak-guarded, in one transaction.
//   Figures: top-off rows/s against the floor's (ratio = topoff / floor, below 1), and the day's
//   wall time, PASS under 60 s for 200,000 messages. One run each, floor first.
//
//   npm run bench:tiers -- [--messages 200000] [--history 5000] [--seed 20261123] [--out tmp/bench/tiers.json]
// Exit 0 when the run completes and the day is under the bound, 1 otherwise.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { type DayRows, ReplicaGenerator, replicaSchemaSql, writeCopyFiles } from '../src/demo/replica.js';
import { urlWith } from '../src/node/databases.js';
import { loadPolicy } from '../src/policy/load.js';
import { buildTiers } from '../src/tiers/build.js';
import { singleKey } from '../src/tiers/keys.js';
import { progressPrinter } from '../src/tiers/progress.js';
import { detectLayout, SOURCE_TABLES } from '../src/tiers/source.js';
import { insertSource, topoff } from '../src/tiers/topoff.js';
import { type Figure, environment, figure, formatFigures, repoRoot, runBench, startCluster, writeJson } from './lib.js';

const DAY_BOUND_S = 60;
const say = (s = '') => process.stdout.write(`${s}\n`);

runBench({ messages: 200_000, history: 5_000, seed: 20261123, out: 'tmp/bench/tiers.json' }, async (args, cleanup) => {
  const cluster = await startCluster({ tmpPrefix: 'fdwg-bench-tiers-' });
  cleanup.add('cluster', () => cluster.stop());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fdwg-bench-tiers-files-'));
  cleanup.add('files', () => rmSync(dir, { recursive: true, force: true }));
  const admin = new pg.Client({ connectionString: cluster.superuserUrl });
  await admin.connect();
  for (const d of ['datanommer', 'warehouse', 'floor']) await admin.query(`CREATE DATABASE ${d}`);
  await admin.end();
  const url = (d: string) => urlWith(cluster.superuserUrl, d);
  const connect = async (d: string) => {
    const c = new pg.Client({ connectionString: url(d) });
    await c.connect();
    cleanup.add(`client ${d}`, () => c.end());
    return c;
  };
  const [src, wh, floorDb] = [await connect('datanommer'), await connect('warehouse'), await connect('floor')];
  const policy = loadPolicy(path.join(repoRoot, 'policies'));
  const keys = singleKey('bench-key');

  say(`Generating a replica (${args.history.toLocaleString('en')} messages of history) and a day of ${args.messages.toLocaleString('en')} messages...`);
  const gen = new ReplicaGenerator(args.seed, 'msg');
  await src.query(replicaSchemaSql('public', 'msg', false));
  const layout = await detectLayout(src, 'public');
  const history: Partial<DayRows>[] = [gen.population(), gen.day('2025-03-30', args.history)];
  for (const t of SOURCE_TABLES) for (const r of history) if (r[t]?.length) await insertSource(src, layout, t, r[t]!);
  await buildTiers({ source: src, sourceSchema: 'public', target: wh, policy, keys });
  const day = gen.day('2025-03-31', args.messages);
  const files = path.join(dir, '2025-03-31');
  mkdirSync(files);
  writeCopyFiles(files, day);
  const rows = SOURCE_TABLES.reduce((n, t) => n + day[t].length, 0);

  // Floor: psql's \copy of the same files into unindexed tables of the same columns.
  await floorDb.query(replicaSchemaSql('public', 'msg', false));
  await floorDb.query(`DO $$ DECLARE r record; BEGIN
    FOR r IN SELECT conrelid::regclass AS t, conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype IN ('p', 'u') LOOP
      EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.t, r.conname);
    END LOOP;
    FOR r IN SELECT i.indexrelid::regclass AS i FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace LOOP
      EXECUTE format('DROP INDEX %s', r.i);
    END LOOP;
  END $$`);
  let started = performance.now();
  for (const t of SOURCE_TABLES) {
    execFileSync('psql', [url('floor'), '-q', '-v', 'ON_ERROR_STOP=1', '-c', `\\copy public.${t} FROM '${path.join(files, `${t}.copy`)}'`], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const floorS = (performance.now() - started) / 1000;
  say(`floor: plain \\copy of ${rows.toLocaleString('en')} rows in ${floorS.toFixed(1)} s`);

  started = performance.now();
  const r = await topoff({ db: wh, source: src, sourceSchema: 'public', policy, keys, day: '2025-03-31', dir: files, onProgress: progressPrinter('topoff') });
  const topoffS = (performance.now() - started) / 1000;
  say(`topoff: ${r.published.toLocaleString('en')} messages published, ${r.quarantined} quarantined, ${rows.toLocaleString('en')} rows in ${topoffS.toFixed(1)} s`);

  const figures: Figure[] = [
    figure({ figure: 'top-off rows/s (ratio: of a plain \\copy into unindexed tables)', result: rows / topoffS, floor: rows / floorS, unit: 'rows/s' }),
    figure({ figure: `one day of ${args.messages.toLocaleString('en')} messages, top-off wall time`, result: topoffS, floor: floorS, unit: 's', target: { below: DAY_BOUND_S } }),
  ];
  say(formatFigures(figures));
  say(`results: ${writeJson(args.out, { environment: environment(), args, rows, floorSeconds: floorS, topoffSeconds: topoffS, figures })}`);
  return figures.every((f) => f.pass !== false) ? 0 : 1;
});
