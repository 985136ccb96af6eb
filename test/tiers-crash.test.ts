// The tier loader on Datanommer's 2024 layout (msg_raw text + msg_json jsonb, half filled) in a
// table partitioned on timestamp (a hypertable's shape), through the command line: a top-off
// killed mid-day (SIGKILL) and run again ends in exactly the state of one clean run.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type DayRows, ReplicaGenerator, replicaSchemaSql, writeCopyFiles } from '../src/demo/replica.js';
import { loadPolicy } from '../src/policy/load.js';
import { buildTiers } from '../src/tiers/build.js';
import { runMigrations } from '../src/db/migrate.js';
import { KeyFile } from '../src/tiers/keys.js';
import { detectLayout } from '../src/tiers/source.js';
import { insertSource, topoff } from '../src/tiers/topoff.js';
import { createDatabase, urlFor } from './support/pg.js';

const policy = loadPolicy('policies'); // rotation none
const DAY = '2025-03-31';
const DAY_MESSAGES = 1_000;
let tmp: string;
let keysFile: string;
const pairs: { src: string; wh: string }[] = [];

const one = async <T>(url: string, sql: string) => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return Object.values((await c.query(sql)).rows[0] as object)[0] as T;
  } finally {
    await c.end();
  }
};

function cli(args: string[], env: Record<string, string> = {}): { child: ChildProcess; stderr: () => string; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/node/tiers.ts', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
  return { child, stderr: () => stderr, done };
}

const topoffArgs = (p: { src: string; wh: string }) => ['topoff', '--date', DAY, '--from', path.join(tmp, DAY), '--url', p.wh, '--source', p.src, '--source-schema', 'public', '--keys', keysFile];

const digest = (url: string) =>
  one<string>(
    url,
    `SELECT md5(concat_ws('#',
       (SELECT string_agg(t::text, '|' ORDER BY id) FROM pseudonymized.messages t),
       (SELECT string_agg(t::text, '|' ORDER BY id) FROM pseudonymized.users t),
       (SELECT string_agg(t::text, '|' ORDER BY msg_id, user_id) FROM pseudonymized.users_messages t),
       (SELECT string_agg(t::text, '|' ORDER BY msg_id, package_id) FROM pseudonymized.packages_messages t),
       (SELECT string_agg(t::text, '|' ORDER BY pseudonym) FROM pii.users t),
       (SELECT string_agg(t::text, '|' ORDER BY msg_id, kind, body) FROM pii.message_text t),
       (SELECT string_agg(concat_ws(',', id, reason, body), '|' ORDER BY id) FROM tiers.quarantine),
       (SELECT string_agg(concat_ws(',', day, messages, quarantined), '|') FROM tiers.topoffs)))`,
  );

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'fdwg-tiers-crash-'));
  keysFile = path.join(tmp, 'keys.json');
  const keys = new KeyFile(keysFile);
  // Two identical replicas and warehouses: one for the killed run, one for the clean run.
  for (let k = 0; k < 2; k++) {
    const gen = new ReplicaGenerator(43, 'split');
    const history: Partial<DayRows>[] = [gen.population(), gen.day('2025-03-30', 300)];
    history[1]!.messages!.push(gen.badRow('2025-03-30', '{"oops": tru}'));
    const day = gen.day(DAY, DAY_MESSAGES);
    if (k === 0) {
      mkdirSync(path.join(tmp, DAY));
      writeCopyFiles(path.join(tmp, DAY), day);
    }
    const p = { src: urlFor(await createDatabase('dn')), wh: urlFor(await createDatabase('wh')) };
    pairs.push(p);
    const src = new pg.Client({ connectionString: p.src });
    const wh = new pg.Client({ connectionString: p.wh });
    await Promise.all([src.connect(), wh.connect()]);
    try {
      await src.query(replicaSchemaSql('public', 'split', true));
      const layout = await detectLayout(src, 'public');
      for (const t of ['users', 'packages', 'messages', 'users_messages', 'packages_messages'] as const) {
        for (const r of history) if (r[t]?.length) await insertSource(src, layout, t, r[t]!);
      }
      const built = await buildTiers({ source: src, sourceSchema: 'public', target: wh, policy, keys });
      expect(built.layout).toMatchObject({ body: 'split', hasJsonColumn: true });
      expect(built).toMatchObject({ published: 300, quarantined: 1 });
      // Half the bodies come from msg_json, half from msg_raw: both read.
      expect(await one(p.src, `SELECT count(*)::int FROM messages WHERE msg_json IS NULL`)).toBe(151);
      expect(await one(p.src, `SELECT count(*)::int FROM ONLY messages`)).toBe(0); // rows live in the partitions
    } finally {
      await Promise.all([src.end(), wh.end()]);
    }
  }
}, 90_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('a top-off killed mid-day, then run again, ends as one clean run', async () => {
  const [killed, clean] = pairs as [{ src: string; wh: string }, { src: string; wh: string }];
  const before = await digest(killed.wh);

  const run = cli(topoffArgs(killed), { TIERS_BATCH: '50' });
  // Progress lines name rows, rate and time left; kill at the first one, long before the end.
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (/rows, [\d,]+ rows\/s, (\d+ s left|time left unknown)/.test(run.stderr())) {
        clearInterval(t);
        resolve();
      }
    }, 20);
    run.done.then(() => {
      clearInterval(t);
      reject(new Error('the top-off ended before it could be killed'));
    });
  });
  const progress = run.stderr();
  expect(progress).not.toContain(`${DAY_MESSAGES.toLocaleString('en')} / ${DAY_MESSAGES.toLocaleString('en')}`);
  run.child.kill('SIGKILL');
  expect((await run.done).code).toBeNull();
  expect(await digest(killed.wh)).toBe(before); // nothing of the day is visible
  expect(await one(killed.wh, 'SELECT count(*)::int FROM tiers.topoffs')).toBe(0);

  const rerun = await cli(topoffArgs(killed)).done;
  expect(rerun.stderr).toContain(`topped off ${DAY}: 1,000 messages in the files, 1,000 new in the tier`);
  expect(rerun.code).toBe(0);
  // The clean run in-process (the same topoff() the command calls): one process spawn fewer.
  const [cleanSrc, cleanWh] = [new pg.Client({ connectionString: clean.src }), new pg.Client({ connectionString: clean.wh })];
  await Promise.all([cleanSrc.connect(), cleanWh.connect()]);
  try {
    const once = await topoff({ db: cleanWh, source: cleanSrc, sourceSchema: 'public', policy, keys: new KeyFile(keysFile), day: DAY, dir: path.join(tmp, DAY) });
    expect(once).toMatchObject({ messages: DAY_MESSAGES, added: DAY_MESSAGES });
  } finally {
    await Promise.all([cleanSrc.end(), cleanWh.end()]);
  }
  expect(await digest(killed.wh)).toBe(await digest(clean.wh));
  expect(await digest(killed.wh)).not.toBe(before);
  for (const t of ['messages', 'users_messages', 'packages_messages']) {
    expect(await one(killed.src, `SELECT count(*)::int FROM ${t}`), t).toBe(await one(clean.src, `SELECT count(*)::int FROM ${t}`));
  }
  expect(await one(killed.wh, 'SELECT count(*)::int FROM pseudonymized.messages')).toBe(300 + DAY_MESSAGES);

  // The next day without the one before it: refused, exit 3, nothing changed.
  const gap = await cli(['topoff', '--date', '2025-04-02', '--from', path.join(tmp, DAY), '--url', clean.wh, '--source', clean.src, '--keys', keysFile]).done;
  expect(gap.code).toBe(3);
  expect(gap.stderr).toContain('refusing a gap: the last day loaded is 2025-03-31, so 2025-04-01 is missing before 2025-04-02');
}, 120_000);

test('rotate: makes the key of a period once, retires it, and audits each change as pseudonyms.rotated', async () => {
  const control = urlFor(await createDatabase('control'));
  const pool = new pg.Pool({ connectionString: control, max: 1 });
  try {
    await runMigrations(pool);
  } finally {
    await pool.end();
  }
  const file = path.join(tmp, 'rotate-keys.json');
  const rotate = (args: string[]) => cli(['rotate', ...args, '--keys', file, '--control-url', control]).done;

  const made = await rotate(['--period', '2026-Q4']);
  expect(made.code).toBe(0);
  expect(made.stderr).toContain('made the key of 2026-Q4');
  expect(new KeyFile(file).periods()).toEqual(['2026-Q4']);
  const key = new KeyFile(file).keyFor('2026-Q4');
  const retired = await rotate(['--retire', '2026-Q4']);
  expect(retired.code).toBe(0);
  expect(new KeyFile(file).periods()).toEqual([]);
  expect(() => new KeyFile(file).keyFor('2026-Q4')).toThrow(/retired/);

  const c = new pg.Client({ connectionString: control });
  await c.connect();
  try {
    const { rows } = await c.query(`SELECT action, actor, details FROM audit_events ORDER BY id`);
    expect(rows.map((r) => [r.action, r.details])).toEqual([
      ['pseudonyms.rotated', { period: '2026-Q4', rotation: 'none' }],
      ['pseudonyms.rotated', { retired: '2026-Q4', rotation: 'none' }],
    ]);
    expect(rows[0].actor).toMatch(/^system:tiers-cli/);
    // The key itself never reaches the control database.
    expect(JSON.stringify(rows)).not.toContain(key);
  } finally {
    await c.end();
  }
}, 60_000);
