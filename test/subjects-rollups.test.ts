// The data-subject report's rollups (migration 0012) are derived data: for any window (whole
// months, whole days, partial edge days, one day, one instant) the report's readers and counts equal
// a direct count over audit_events, whether the totals were added event by event or rebuilt; and
// the pgaudit ingestion adds a batch once, even when the same log is ingested again.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ingestPgauditLogs } from '../src/audit/pgaudit-ingest.js';
import { controlDb, createPool } from '../src/db/client.js';
import { runMigrations } from '../src/db/migrate.js';
import { Prng } from '../src/demo/prng.js';
import { readCounts, readers, windowParts } from '../src/subjects/dal.js';
import { addToReadRollups, rebuildReadRollups } from '../src/subjects/dal.js';
import { createDatabase, urlFor } from './support/pg.js';

const TABLES = ['pii.users', 'pii.message_text'];
const T0 = Date.parse('2026-01-20T00:00:00.000Z');
const DAY = 86_400_000;
let pool: pg.Pool;

/** What the report said before the rollups: every matching event of the window, counted directly. */
async function direct(w: { from: Date; to: Date }) {
  const { rows } = await pool.query(
    `SELECT subject AS analyst, details ->> 'role' AS role,
            coalesce(array_agg(DISTINCT request_id) FILTER (WHERE request_id IS NOT NULL), '{}') AS "requestIds",
            count(*)::int AS reads, (count(*) FILTER (WHERE details ->> 'alert' = 'true'))::int AS "outsideGrant",
            to_char(min(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS first,
            to_char(max(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last
       FROM audit_events WHERE action = 'pii.read' AND at >= $1 AND at <= $2 AND details -> 'objects' ?| $3::text[]
      GROUP BY 1, 2 ORDER BY 4 DESC, 2`,
    [w.from, w.to, TABLES],
  );
  return rows.map((r) => ({ ...r, requestIds: r.requestIds.map(Number) }));
}

/**
 * Events with chosen times, in time order as the chain appends them (the access log's window bounds
 * rely on it); the chain's hashes are left empty: these only feed the derived tables.
 */
let clock = T0;
async function insertReads(n: number, rng: Prng): Promise<number[]> {
  const roles = [
    ['fdwg_alice', 'alice'],
    ['fdwg_bob', 'bob'],
    ['dba_hand', null],
  ] as const;
  const objects = [['pii.users'], ['pii.message_text'], ['pii.message_text', 'pii.users'], ['other.t']];
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const [role, analyst] = rng.pick([...roles]);
    clock += rng.int((2 * 70 * DAY) / 600); // 600 events over about 70 days
    const at = new Date(clock);
    const request = rng.chance(0.2) ? null : 1 + rng.int(4);
    const { rows } = await pool.query(
      `INSERT INTO audit_events (at, actor, subject, action, request_id, details, prev_hash, hash)
       VALUES ($1, $2, $3, 'pii.read', $4, $5, '', '') RETURNING id`,
      [at, analyst ?? 'system:pgaudit', analyst, analyst ? request : null, { role, objects: rng.pick(objects), alert: rng.chance(0.1) }],
    );
    ids.push(Number(rows[0].id));
  }
  return ids;
}

const windows = [
  { from: new Date(T0 - DAY), to: new Date(T0 + 80 * DAY) }, // everything
  { from: new Date(T0 + 3.5 * DAY + 1234), to: new Date(T0 + 61.25 * DAY) }, // partial days, whole months between
  { from: new Date(T0 + 12 * DAY), to: new Date(T0 + 19 * DAY) }, // whole days only, on midnights
  { from: new Date(T0 + 40.1 * DAY), to: new Date(T0 + 40.9 * DAY) }, // within one day
  { from: new Date(Date.parse('2026-02-01T00:00:00Z')), to: new Date(Date.parse('2026-03-01T00:00:00Z')) }, // one month, both ends on its bounds
];

beforeAll(async () => {
  pool = createPool(urlFor(await createDatabase('rollups')));
  await runMigrations(pool);
});
afterAll(async () => {
  await pool?.end();
});

describe('rollups equal a direct count of the events', () => {
  test('windowParts covers a window exactly once', () => {
    const w = { from: new Date('2026-01-23T12:00:00.001Z'), to: new Date('2026-03-22T06:00:00Z') };
    const p = windowParts(w);
    expect(p.months.map((d) => d.toISOString())).toEqual(['2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z']);
    expect(p.days.map(([a, b]) => [a.toISOString(), b.toISOString()])).toEqual([
      ['2026-01-24T00:00:00.000Z', '2026-02-01T00:00:00.000Z'],
      ['2026-03-01T00:00:00.000Z', '2026-03-22T00:00:00.000Z'],
    ]);
    expect(p.edges.map((e) => [e.from.toISOString(), e.to.toISOString(), e.toExclusive])).toEqual([
      ['2026-01-23T12:00:00.001Z', '2026-01-24T00:00:00.000Z', true],
      ['2026-03-22T00:00:00.000Z', '2026-03-22T06:00:00.000Z', false],
    ]);
  });

  test('added per batch and rebuilt, over whole months, whole days, edges and one day', async () => {
    const db = controlDb(pool);
    const rng = new Prng(15);
    // Half added in two batches as the ingestion does, then the other half; a rebuild must agree.
    const first = await insertReads(300, rng);
    await addToReadRollups(db, first.slice(0, 150));
    await addToReadRollups(db, first.slice(150));
    await addToReadRollups(db, await insertReads(300, rng));
    const check = async () => {
      for (const w of windows) {
        const want = await direct(w);
        expect(want.length).toBeGreaterThan(0);
        expect(await readers(db, TABLES, w)).toEqual(want);
        expect((await readCounts(db, TABLES, w, ['nobody'])).reads).toBe(want.reduce((n, r) => n + r.reads, 0));
      }
    };
    await check();
    const before = (await pool.query(`SELECT * FROM pii_read_rollup ORDER BY span, bucket, role, analyst, tables`)).rows;
    await rebuildReadRollups(db);
    expect((await pool.query(`SELECT * FROM pii_read_rollup ORDER BY span, bucket, role, analyst, tables`)).rows).toEqual(before);
    await check();
  });

  test('the ingestion adds each statement once: a second pass over the same log adds nothing', async () => {
    await pool.query(`DELETE FROM pii_read_rollup; DELETE FROM pii_read_request_spans`);
    const dir = mkdtempSync(path.resolve('tmp/rollups-'));
    try {
      const lines = Array.from({ length: 30 }, (_, i) =>
        JSON.stringify({
          timestamp: `2026-11-23 10:${String(i).padStart(2, '0')}:00.000 UTC`,
          user: i % 3 ? 'fdwg_alice' : 'dba_hand',
          dbname: 'warehouse',
          session_id: 's',
          error_severity: 'LOG',
          message: `AUDIT: OBJECT,${i + 1},1,READ,SELECT,TABLE,pii.users,"SELECT 1 FROM pii.users WHERE username = 'u${i}'",<not logged>`,
        }),
      );
      writeFileSync(path.join(dir, 'postgresql.json'), `${lines.join('\n')}\n`);
      await pool.query(`INSERT INTO analysts (username, subject, role_name) VALUES ('alice', 'alice', 'fdwg_alice') ON CONFLICT DO NOTHING`);
      const db = controlDb(pool);
      const opts = { logDir: dir, rolePrefix: 'fdwg_', now: () => new Date(Date.now() + 60_000), chunkBytes: 1024 };
      expect((await ingestPgauditLogs(db, opts)).events).toBe(30);
      expect((await ingestPgauditLogs(db, opts)).events).toBe(0);
      const sum = async () => (await pool.query(`SELECT span, sum(reads)::int AS n FROM pii_read_rollup WHERE tables = '{pii.users}' GROUP BY 1 ORDER BY 1`)).rows;
      // Only the 30 ingested events (the rows above were cleared), in both spans.
      expect(await sum()).toEqual([
        { span: 'day', n: 30 },
        { span: 'month', n: 30 },
      ]);
      const w = { from: new Date(Date.now() - DAY), to: new Date(Date.now() + DAY) };
      const got = await readers(db, TABLES, w);
      expect(got.map((r) => [r.analyst, r.role, r.reads])).toEqual([
        ['alice', 'fdwg_alice', 20],
        [null, 'dba_hand', 10],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
