// `tiers topoff --date D --from DIR`: one day's incremental `\COPY` files into the Datanommer
// source tables and the tiers.
//
// The day is one transaction on the warehouse (and one on a separate source database, committed
// first): a crash or a kill leaves the tiers as they were and a rerun loads the whole day again,
// so "resumable" needs no bookkeeping beyond the day's row in tiers.topoffs. Every insert is
// ON CONFLICT DO NOTHING (free text only for messages the tier does not hold yet), so a day
// loaded twice changes nothing. The day's pseudonymized rows that carry text (messages, users,
// packages) are staged in temporary tables, the leak guard runs on exactly them, and only then
// are they added to the tier's existing tables; bridge rows (ids and timestamps, nothing the
// guard reads) go straight in. Analysts' live sessions see the new rows at COMMIT, with the
// grants they have.
import type pg from 'pg';
import { quoteIdent as qi } from '../provisioner/sql.js';
import { guard, type TierPolicy } from './build.js';
import { copyFile, countRows, readCopy } from './copy-text.js';
import { type KeySource, Pseudonymizer } from './keys.js';
import { type Bridge, type PipelineOptions, processBatch } from './pipeline.js';
import { compileRules, parseBody, type SourceRow } from './rewrite.js';
import { insertRows, PACKAGE_SPEC, type Queryable } from './rows.js';
import { pseudonymizedTablesSql } from './schema.js';
import { detectLayout, readUsers, type SourceLayout, type SourceTable } from './source.js';

export interface TopoffOptions {
  /** The warehouse, as the owner of the tiers. */
  db: pg.ClientBase;
  /** The Datanommer database (the same client when it lives in the warehouse). */
  source: pg.ClientBase;
  sourceSchema: string;
  policy: TierPolicy;
  keys: KeySource;
  day: string;
  dir: string;
  allowGap?: boolean;
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface TopoffSummary {
  day: string;
  messages: number;
  published: number;
  quarantined: number;
  /** Rows the tier did not hold before (0 when the day was loaded already). */
  added: number;
  seconds: number;
}

export class TopoffRefused extends Error {}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function nextDay(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

/** Refuses a day after a missing one: the last loaded day (or the build's last) must be the day before. */
async function checkOrder(db: Queryable, o: TopoffOptions): Promise<void> {
  const state = await db.query<{ rotation: string; last: string | null }>(
    `SELECT rotation, GREATEST(built_through, (SELECT max(day) FROM tiers.topoffs))::text AS last FROM tiers.state`,
  );
  const s = state.rows[0];
  if (!s) throw new TopoffRefused('the tiers were never built here: run `npm run tiers -- build` first');
  if (s.rotation !== o.policy.pseudonyms.rotation) {
    throw new TopoffRefused(`the tiers were built with pseudonyms.rotation ${s.rotation}, the policy now says ${o.policy.pseudonyms.rotation}: rebuild them`);
  }
  if (s.last !== null && o.day > nextDay(s.last) && !o.allowGap) {
    throw new TopoffRefused(`refusing a gap: the last day loaded is ${s.last}, so ${nextDay(s.last)} is missing before ${o.day}; load it first, or pass --allow-gap`);
  }
}

type Cells = (string | null)[];

/**
 * Inserts raw file rows into a source table, each cell cast from text to its column's type: one
 * text[] parameter per column through unnest, which PostgreSQL reads far faster than one JSON
 * document of rows (no jsonb tree of the whole batch, no ->> per cell).
 */
export async function insertSource(db: Queryable, l: SourceLayout, table: SourceTable, rows: Cells[]): Promise<void> {
  if (rows.length === 0) return;
  const cols = l.columns[table];
  if (rows[0]!.length !== cols.length) {
    throw new TopoffRefused(`${table}: the file has ${rows[0]!.length} columns, ${l.schema}.${table} has ${cols.length}: not the same layout`);
  }
  const names = cols.map((c) => qi(c.name)).join(', ');
  const exprs = cols.map((c, i) => (c.type === 'text' ? `c${i}` : `c${i}::${c.type}`)).join(', ');
  const params = cols.map((_, i) => `$${i + 1}::text[]`).join(', ');
  await db.query(
    `INSERT INTO ${qi(l.schema)}.${qi(table)} (${names}) SELECT ${exprs} FROM unnest(${params}) AS u(${cols.map((_, i) => `c${i}`).join(', ')}) ON CONFLICT DO NOTHING`,
    cols.map((_, i) => rows.map((r) => r[i] ?? null)),
  );
}

async function readAll(file: string | null): Promise<Cells[]> {
  const out: Cells[] = [];
  if (file) for await (const b of readCopy(file, 50_000)) out.push(...b);
  return out;
}

/** File rows -> SourceRows; `storable` says whether the source table can hold the raw row. */
function toSourceRows(l: SourceLayout, rows: Cells[]): { row: SourceRow; storable: boolean }[] {
  const idx = new Map(l.columns.messages.map((c, i) => [c.name, i]));
  const get = (r: Cells, name: string) => (idx.has(name) ? r[idx.get(name)!] ?? null : null);
  const jsonColumn = (name: string) => ['json', 'jsonb'].includes(l.columns.messages[idx.get(name) ?? -1]?.type ?? '');
  const bodyColumn = l.body === 'msg' ? 'msg' : 'msg_raw';
  return rows.map((r) => {
    const body = get(r, 'msg_json') ?? get(r, bodyColumn);
    const headersText = get(r, 'headers');
    let headers: SourceRow['headers'] = null;
    let bad: SourceRow['bad'];
    if (headersText !== null) {
      const h = parseBody(headersText, Buffer.byteLength(headersText));
      if (h.ok && h.value !== null && typeof h.value === 'object' && !Array.isArray(h.value)) headers = h.value;
      else bad = h.ok ? 'invalid JSON' : h.reason;
    }
    const row: SourceRow = {
      id: Number(get(r, 'id')),
      msg_id: get(r, 'msg_id') ?? '',
      i: Number(get(r, 'i') ?? 1),
      topic: get(r, 'topic') ?? '',
      timestamp: get(r, 'timestamp') ?? '',
      category: get(r, 'category'),
      agent_name: get(r, 'agent_name'),
      source_name: get(r, 'source_name'),
      source_version: get(r, 'source_version'),
      body,
      bytes: body === null ? 0 : Buffer.byteLength(body),
      headers,
      ...(bad ? { bad } : {}),
    };
    // A json/jsonb body or headers column cannot hold what PostgreSQL refuses: such a row stays
    // out of the source too (it is in the quarantine with its body).
    const bodyOk = !jsonColumn(l.body === 'msg' ? 'msg' : 'msg_raw') || body === null || parseBody(body, row.bytes).ok;
    return { row, storable: bad === undefined && bodyOk };
  });
}

export async function topoff(o: TopoffOptions): Promise<TopoffSummary> {
  const started = performance.now();
  if (!DAY.test(o.day) || Number.isNaN(Date.parse(`${o.day}T00:00:00Z`))) throw new TopoffRefused(`--date takes a day as YYYY-MM-DD, not ${o.day}`);
  const messagesFile = copyFile(o.dir, 'messages');
  if (!messagesFile) throw new TopoffRefused(`no messages.copy (or messages.copy.gz) in ${o.dir}`);
  const db = o.db;
  const separate = o.source !== db;
  await checkOrder(db, o);
  const total = await countRows(messagesFile);
  const layout = await detectLayout(o.source, o.sourceSchema);

  const begin = async (c: pg.ClientBase) => {
    await c.query('BEGIN');
    await c.query('SET LOCAL DateStyle = ISO');
  };
  await begin(db);
  if (separate) await begin(o.source);
  try {
    // One top-off at a time (the advisory lock is the owner's; analysts cannot reach tiers.state).
    await db.query('SELECT 1 FROM tiers.state FOR UPDATE');
    for (const t of ['users', 'packages'] as const) await insertSource(o.source, layout, t, await readAll(copyFile(o.dir, t)));
    const userBridges = new Map<number, Bridge[]>();
    const packageBridges = new Map<number, Bridge[]>();
    for (const [table, into] of [['users_messages', userBridges], ['packages_messages', packageBridges]] as const) {
      const rows = await readAll(copyFile(o.dir, table));
      await insertSource(o.source, layout, table, rows);
      const cols = layout.columns[table].map((c) => c.name);
      const [ref, msg, ts] = [cols.indexOf(table === 'users_messages' ? 'user_id' : 'package_id'), cols.indexOf('msg_id'), cols.indexOf('msg_timestamp')];
      for (const r of rows) {
        const b = { ref: Number(r[ref]), msg_id: Number(r[msg]), msg_timestamp: r[ts] ?? '' };
        const list = into.get(b.msg_id);
        if (list) list.push(b);
        else into.set(b.msg_id, [b]);
      }
    }

    const ltree = (await db.query(`SELECT 1 FROM pg_attribute WHERE attrelid = 'pseudonymized.messages'::regclass AND attname = 'topic_ltree' AND NOT attisdropped`)).rowCount === 1;
    await db.query(pseudonymizedTablesSql('pg_temp', ltree, true).replaceAll(';', ' ON COMMIT DROP;'));
    const tmp = (await db.query<{ s: string }>('SELECT nspname AS s FROM pg_namespace WHERE oid = pg_my_temp_schema()')).rows[0]!.s;
    const userNames = await readUsers(o.source, o.sourceSchema);
    const seen = new Set((await db.query<{ p: string; u: string }>(`SELECT period AS p, username AS u FROM pii.users`)).rows.map((r) => `${r.p}\0${r.u}`));
    const packages = (await o.source.query<{ id: number; name: string }>(`SELECT id, name FROM ${qi(o.sourceSchema)}.packages`)).rows;
    const opts: PipelineOptions = {
      rules: compileRules(o.policy.pii_dictionary.messages),
      pseudonymizer: new Pseudonymizer(o.policy.pseudonyms.rotation, o.keys),
      userNames,
      userIds: new Map([...userNames].map(([id, name]) => [name, id])),
      known: new Set(userNames.values()),
      packageIds: new Set(packages.map((p) => p.id)),
      pseudoSchema: 'pg_temp',
      bridgeSchema: 'pseudonymized',
      ltree,
      topoff: true,
      seen,
    };
    await insertRows(db, 'pg_temp.packages', PACKAGE_SPEC, packages);

    let published = 0;
    let quarantined = 0;
    // Batch n is written (source and tiers at once when they are two connections; pg queues
    // statements on one) while batch n+1 is read and rewritten.
    let inFlight: Promise<unknown> | null = null;
    for await (const batch of readCopy(messagesFile, o.batch ?? 5_000)) {
      const rows = toSourceRows(layout, batch);
      const msgs = rows.map((r) => r.row);
      const pick = (m: Map<number, Bridge[]>) => msgs.flatMap((r) => m.get(r.id) ?? []);
      const sent = Promise.all([
        insertSource(o.source, layout, 'messages', batch.filter((_, i) => rows[i]!.storable)),
        processBatch(db, opts, msgs, pick(userBridges), pick(packageBridges)).then((r) => {
          published += r.published;
          quarantined += r.quarantined;
          o.onProgress?.(published + quarantined, total);
        }),
      ]);
      sent.catch(() => {}); // surfaces at its await
      if (inFlight) await inFlight;
      inFlight = sent;
    }
    if (inFlight) await inFlight;

    // The staged rows that carry text; the bridges (ids and timestamps only) went straight in.
    await guard(db, o.policy, ['messages', 'users', 'packages'].map((t) => `${tmp}.${t}`));
    let added = 0;
    for (const t of ['users', 'packages', 'messages']) {
      const r = await db.query(`INSERT INTO pseudonymized.${t} SELECT * FROM pg_temp.${t} ON CONFLICT DO NOTHING`);
      if (t === 'messages') added = r.rowCount ?? 0;
    }
    const seconds = Math.round((performance.now() - started) / 10) / 100;
    await db.query(
      `INSERT INTO tiers.topoffs (day, messages, quarantined, seconds) VALUES ($1, $2, $3, $4) ON CONFLICT (day) DO NOTHING`,
      [o.day, total, quarantined, seconds],
    );
    if (separate) await o.source.query('COMMIT');
    await db.query('COMMIT');
    return { day: o.day, messages: total, published, quarantined, added, seconds };
  } catch (e) {
    if (separate) await o.source.query('ROLLBACK').catch(() => {});
    await db.query('ROLLBACK').catch(() => {});
    throw e;
  }
}
