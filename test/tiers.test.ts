// The tier loader against Datanommer's real schema (issue 17): a replica with `msg` as JSON text
// in plain tables, built with quarterly pseudonym keys; then two daily top-offs from `\COPY`
// files and one day again; bad bodies quarantined exactly; pseudonyms agree within a period and
// differ across; the leak guard clean; an analyst's open session sees the new day; a gap refused.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type DayRows, ReplicaGenerator, replicaSchemaSql, writeCopyFiles } from '../src/demo/replica.js';
import { loadPolicy } from '../src/policy/load.js';
import { runLeakGuard } from '../src/reconcile/leak-guard.js';
import { buildTiers, type BuildSummary } from '../src/tiers/build.js';
import { KeyFile } from '../src/tiers/keys.js';
import { PSEUDONYMIZED_TABLES } from '../src/tiers/schema.js';
import { detectLayout } from '../src/tiers/source.js';
import { insertSource, topoff, TopoffRefused } from '../src/tiers/topoff.js';
import { createDatabase, uniqueSuffix, urlFor } from './support/pg.js';

const base = loadPolicy('policies');
const policy = { ...base, pseudonyms: { rotation: 'quarterly' as const } };
const PER_DAY = 250;
const NUL_BODY = '{"comment": {"text": "nul \\u0000 inside"}, "agent": "x"}';
const INVALID_BODY = '{"comment": {"text": "never closed"';

async function connect(url: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`SET log_statement = 'none'`); // megabytes of parameters stay out of the shared log
  return c;
}
const one = async <T>(c: pg.ClientBase, sql: string, params: unknown[] = []) => Object.values((await c.query(sql, params)).rows[0] as object)[0] as T;

export async function loadReplica(c: pg.ClientBase, schema: string, rows: Partial<DayRows>[]): Promise<void> {
  const layout = await detectLayout(c, schema);
  for (const table of ['users', 'packages', 'messages', 'users_messages', 'packages_messages'] as const) {
    for (const r of rows) if (r[table]?.length) await insertSource(c, layout, table, r[table]!);
  }
}

const tierDigest = (c: pg.ClientBase) =>
  c
    .query(
      `SELECT (SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM pseudonymized.messages t) AS messages,
              (SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM pseudonymized.users t) AS users,
              (SELECT md5(string_agg(t::text, '|' ORDER BY msg_id, user_id)) FROM pseudonymized.users_messages t) AS um,
              (SELECT md5(string_agg(t::text, '|' ORDER BY msg_id, package_id)) FROM pseudonymized.packages_messages t) AS pm,
              (SELECT md5(string_agg(t::text, '|' ORDER BY pseudonym)) FROM pii.users t) AS pii_users,
              (SELECT md5(string_agg(t::text, '|' ORDER BY msg_id, kind, body)) FROM pii.message_text t) AS texts,
              (SELECT md5(string_agg(concat_ws(',', id, reason, bytes, body), '|' ORDER BY id)) FROM tiers.quarantine) AS quarantine`,
    )
    .then((r) => r.rows[0] as Record<string, string>);

describe('msg as JSON text, quarterly keys, a separate source database', () => {
  let src: pg.Client;
  let wh: pg.Client;
  let tmp: string;
  let keys: KeyFile;
  let built: BuildSummary;
  const gen = new ReplicaGenerator(41, 'msg');
  const bad: Record<string, string> = {};
  const badLater: Record<string, string> = {};
  const days: Record<string, string> = {};

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'fdwg-tiers-'));
    keys = new KeyFile(path.join(tmp, 'keys.json'));
    src = await connect(urlFor(await createDatabase('dn')));
    wh = await connect(urlFor(await createDatabase('wh')));
    await src.query(replicaSchemaSql('public', 'msg', false));
    const history: Partial<DayRows>[] = [gen.population(), gen.day('2025-03-30', PER_DAY), gen.day('2025-03-31', PER_DAY)];
    const nul = gen.badRow('2025-03-31', NUL_BODY);
    const invalid = gen.badRow('2025-03-31', INVALID_BODY);
    history.push({ messages: [nul, invalid] });
    await loadReplica(src, 'public', history);
    // One body over jsonb's limit (2^28 - 1 bytes), made on the server: a 256 MiB string.
    const big = gen.badRow('2025-03-31', '{}');
    big[12] = null;
    await insertSource(src, await detectLayout(src, 'public'), 'messages', [[...big.slice(0, 12), '{}', '{}']]);
    await src.query(`UPDATE messages SET msg = '{"a":"' || repeat('x', 268435456) || '"}' WHERE id = $1`, [big[0]]);
    Object.assign(bad, { [nul[0]!]: 'contains \\u0000', [invalid[0]!]: 'invalid JSON', [big[0]!]: 'too large' });

    for (const [day, extra] of [['2025-04-01', true], ['2025-04-02', false], ['2025-04-04', false]] as const) {
      const rows = gen.day(day, PER_DAY);
      if (extra) {
        const row = gen.badRow(day, NUL_BODY);
        rows.messages.push(row);
        badLater[row[0]!] = 'contains \\u0000';
      }
      days[day] = path.join(tmp, day);
      mkdirSync(days[day]);
      writeCopyFiles(days[day], { ...rows, users: gen.population().users.slice(0, 5) });
    }
    built = await buildTiers({ source: src, sourceSchema: 'public', target: wh, policy, keys });
  }, 120_000);

  afterAll(async () => {
    await src?.end();
    await wh?.end();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('build: counts match, the quarantine holds exactly the bad rows with their reasons, topic as ltree', async () => {
    expect(built.layout).toMatchObject({ body: 'msg', bodyType: 'text', hypertable: false });
    expect(built).toMatchObject({ messages: 2 * PER_DAY + 3, published: 2 * PER_DAY, quarantined: 3, ltree: true });
    expect(await one(wh, 'SELECT count(*)::int FROM pseudonymized.messages')).toBe(2 * PER_DAY);
    const q = await wh.query(`SELECT id, reason, bytes > 268435455 AS over, body IS NULL AS no_body FROM tiers.quarantine ORDER BY id`);
    expect(Object.fromEntries(q.rows.map((r) => [String(r.id), r.reason]))).toEqual(bad);
    expect(q.rows.find((r) => r.reason === 'too large')).toMatchObject({ over: true, no_body: true });
    expect(await one(wh, `SELECT body FROM tiers.quarantine WHERE reason = 'invalid JSON'`)).toBe(INVALID_BODY);
    // Source bridges of published messages all made it; each as its period's tier user id.
    expect(await one(wh, 'SELECT count(*)::int FROM pseudonymized.users_messages')).toBe(
      await one(src, `SELECT count(*)::int FROM users_messages`),
    );
    expect(await one(wh, `SELECT count(*)::int FROM pseudonymized.messages WHERE topic_ltree <@ 'org.fedoraproject.prod.bodhi'`)).toBe(
      await one(wh, `SELECT count(*)::int FROM pseudonymized.messages WHERE topic LIKE 'org.fedoraproject.prod.bodhi.%'`),
    );
    // Topics whose labels ltree cannot take (anitya's release-monitoring) keep only the text.
    expect(await one(wh, `SELECT count(*)::int FROM pseudonymized.messages WHERE topic LIKE '%release-monitoring%' AND topic_ltree IS NULL`)).toBeGreaterThan(0);
    expect(keys.periods()).toEqual(['2025-Q1']);
  });

  test('two daily top-offs, then one day again: counts add up and the second run changes nothing', async () => {
    const opts = { db: wh, source: src, sourceSchema: 'public', policy, keys };
    const d1 = await topoff({ ...opts, day: '2025-04-01', dir: days['2025-04-01']! });
    expect(d1).toMatchObject({ messages: PER_DAY + 1, published: PER_DAY, quarantined: 1, added: PER_DAY });
    const d2 = await topoff({ ...opts, day: '2025-04-02', dir: days['2025-04-02']! });
    expect(d2).toMatchObject({ messages: PER_DAY, added: PER_DAY, quarantined: 0 });
    const before = await tierDigest(wh);
    const sourceCount = await one(src, 'SELECT count(*)::int FROM messages');
    const again = await topoff({ ...opts, day: '2025-04-02', dir: days['2025-04-02']! });
    expect(again.added).toBe(0);
    expect(await tierDigest(wh)).toEqual(before);
    expect(await one(src, 'SELECT count(*)::int FROM messages')).toBe(sourceCount);

    expect(await one(wh, 'SELECT count(*)::int FROM pseudonymized.messages')).toBe(4 * PER_DAY);
    // Every row reached the source (a text column holds any body), bad ones included.
    expect(await one(src, 'SELECT count(*)::int FROM messages')).toBe(4 * PER_DAY + 3 + 1);
    const q = await wh.query(`SELECT id, reason FROM tiers.quarantine ORDER BY id`);
    expect(Object.fromEntries(q.rows.map((r) => [String(r.id), r.reason]))).toEqual({ ...bad, ...badLater });
    expect(await one(wh, `SELECT count(*)::int FROM pii.message_text t WHERE NOT EXISTS (SELECT 1 FROM pseudonymized.messages m WHERE m.msg_id = t.msg_id)`)).toBe(0);
    expect(keys.periods()).toEqual(['2025-Q1', '2025-Q2']);
  });

  test('pseudonyms agree within a period and differ across periods; pii.users names the period', async () => {
    const { rows } = await wh.query(
      `SELECT u.username, count(DISTINCT u.period)::int AS periods, count(DISTINCT u.pseudonym)::int AS pseudonyms
         FROM pii.users u GROUP BY u.username HAVING count(DISTINCT u.period) = 2`,
    );
    expect(rows.length).toBeGreaterThan(20);
    expect(rows.every((r) => r.pseudonyms === 2)).toBe(true);
    // Every message's agent pseudonym is the one of its own period (and one per user and period).
    const wrong = await one(
      wh,
      `SELECT count(*)::int FROM pseudonymized.messages m JOIN pii.users u ON u.pseudonym = m.agent_pseudonym
        WHERE u.period <> to_char(m."timestamp", 'YYYY') || '-Q' || to_char(m."timestamp", 'Q')`,
    );
    expect(wrong).toBe(0);
    expect(await one(wh, `SELECT count(*)::int FROM pseudonymized.messages WHERE agent_pseudonym IS NOT NULL`)).toBeGreaterThan(3 * PER_DAY);
    // Header keys carry the same pseudonym as the agent; tier user ids differ across periods too.
    expect(
      await one(wh, `SELECT count(*)::int FROM pseudonymized.messages WHERE agent_pseudonym IS NOT NULL AND headers->('fedora_messaging_user_' || agent_pseudonym) IS DISTINCT FROM 'true'`),
    ).toBe(0);
    expect(await one(wh, `SELECT count(*)::int FROM (SELECT id FROM pseudonymized.users GROUP BY id HAVING count(DISTINCT period) > 1) x`)).toBe(0);
    expect(await one(wh, `SELECT count(DISTINCT period)::int FROM pseudonymized.users`)).toBe(2);
  });

  test('the leak guard finds nothing; no username, e-mail or author name in the pseudonymized tier', async () => {
    expect(await runLeakGuard(wh, policy, [...PSEUDONYMIZED_TABLES])).toEqual([]);
    for (const t of PSEUDONYMIZED_TABLES) {
      const leaked = await wh.query(
        `SELECT DISTINCT tok FROM ${t} r, regexp_split_to_table(lower(r::text), '[^a-z0-9]+') tok WHERE tok IN (SELECT username FROM pii.users)`,
      );
      expect(leaked.rows, t).toEqual([]);
      expect(await one(wh, `SELECT count(*)::int FROM ${t} r WHERE strpos(r::text, '@') > 0`), t).toBe(0);
    }
  });

  test('an open analyst session sees a new day without new grants; a gap is refused', async () => {
    const role = `analyst_${uniqueSuffix()}`;
    await wh.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw-${role}'`);
    await wh.query(`GRANT USAGE ON SCHEMA pseudonymized TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA pseudonymized TO ${role}`);
    const db = (await wh.query('SELECT current_database() AS d')).rows[0].d as string;
    const analyst = new pg.Client({ connectionString: urlFor(db, role, `pw-${role}`) });
    await analyst.connect();
    const grants = `SELECT count(*)::int FROM information_schema.role_table_grants WHERE grantee = '${role}'`;
    try {
      const before = await one<number>(analyst, 'SELECT count(*)::int FROM pseudonymized.messages');
      const granted = await one<number>(wh, grants);
      const refused = topoff({ db: wh, source: src, sourceSchema: 'public', policy, keys, day: '2025-04-04', dir: days['2025-04-04']! });
      await expect(refused).rejects.toThrow(TopoffRefused);
      await expect(refused).rejects.toThrow(/the last day loaded is 2025-04-02, so 2025-04-03 is missing/);
      expect(await one<number>(analyst, 'SELECT count(*)::int FROM pseudonymized.messages')).toBe(before);
      const r = await topoff({ db: wh, source: src, sourceSchema: 'public', policy, keys, day: '2025-04-04', dir: days['2025-04-04']!, allowGap: true });
      expect(r.added).toBe(PER_DAY);
      expect(await one<number>(analyst, 'SELECT count(*)::int FROM pseudonymized.messages')).toBe(before + PER_DAY);
      expect(await one<number>(analyst, `SELECT count(*)::int FROM pseudonymized.messages WHERE "timestamp"::date = '2025-04-04'`)).toBe(PER_DAY);
      expect(await one<number>(wh, grants)).toBe(granted);
    } finally {
      await analyst.end();
    }
  });
});
