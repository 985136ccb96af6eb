// Reading a Datanommer database (fedora-infra/datanommer, datanommer.models): `messages` with the
// body as `msg` (JSON text upstream, json/jsonb in some replicas) or, since the 2024 migrations
// f6d590f5c53f and 0ce25211a227, `msg_raw` text plus `msg_json` jsonb filled by a populate
// script (a replica may hold both half-filled); plain tables, partitions or a TimescaleDB
// hypertable (all read alike through the parent).
import { quoteIdent as qi } from '../provisioner/sql.js';
import type { Bridge } from './pipeline.js';
import type { SourceRow } from './rewrite.js';
import { JSONB_MAX_BYTES } from './rewrite.js';
import type { Queryable } from './rows.js';

export interface SourceLayout {
  schema: string;
  /** `msg`: one body column; `split`: msg_raw and/or msg_json (msg_json preferred when filled). */
  body: 'msg' | 'split';
  /** The type of `msg` (text, json or jsonb), or of msg_raw. */
  bodyType: string;
  hasJsonColumn: boolean;
  hypertable: boolean;
  /** Column names of each table in table order: the order a `\COPY <table> TO` file has. */
  columns: Record<SourceTable, { name: string; type: string }[]>;
}

export const SOURCE_TABLES = ['users', 'packages', 'messages', 'users_messages', 'packages_messages'] as const;
export type SourceTable = (typeof SOURCE_TABLES)[number];

export async function detectLayout(db: Queryable, schema: string): Promise<SourceLayout> {
  const { rows } = await db.query<{ table: string; name: string; type: string }>(
    `SELECT c.relname AS table, a.attname AS name, format_type(a.atttypid, NULL) AS type
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind IN ('r', 'p')
      ORDER BY c.relname, a.attnum`,
    [schema, SOURCE_TABLES],
  );
  const columns = Object.fromEntries(SOURCE_TABLES.map((t) => [t, rows.filter((r) => r.table === t).map(({ name, type }) => ({ name, type }))])) as SourceLayout['columns'];
  const missing = SOURCE_TABLES.filter((t) => columns[t].length === 0);
  if (missing.length > 0) throw new Error(`not a Datanommer database: schema ${schema} has no table ${missing.join(', ')}`);
  const m = new Map(columns.messages.map((c) => [c.name, c.type]));
  for (const need of ['id', 'msg_id', 'topic', 'timestamp', 'headers']) {
    if (!m.has(need)) throw new Error(`not a Datanommer database: ${schema}.messages has no column ${need}`);
  }
  const split = m.has('msg_raw') || m.has('msg_json');
  if (!split && !m.has('msg')) throw new Error(`not a Datanommer database: ${schema}.messages has neither msg nor msg_raw/msg_json`);
  const ts = await db.query<{ hyper: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS hyper`,
  );
  let hypertable = false;
  if (ts.rows[0]?.hyper) {
    const h = await db.query(`SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_schema = $1 AND hypertable_name = 'messages'`, [schema]);
    hypertable = (h.rowCount ?? 0) > 0;
  }
  return {
    schema,
    body: split ? 'split' : 'msg',
    bodyType: (split ? m.get('msg_raw') : m.get('msg')) ?? 'text',
    hasJsonColumn: m.has('msg_json'),
    hypertable,
    columns,
  };
}

/** SQL for the body as text and its size, refusing to ship a body jsonb could not hold anyway. */
function bodySql(l: SourceLayout): { body: string; bytes: string } {
  const raw = l.body === 'msg' ? 'msg' : 'msg_raw';
  const rawIsText = !['json', 'jsonb'].includes(l.bodyType);
  const rawBytes = rawIsText ? `octet_length(${raw})` : '0';
  const rawText = rawIsText ? raw : `${raw}::text`;
  const limited = `CASE WHEN ${rawBytes} > ${JSONB_MAX_BYTES} THEN NULL ELSE ${rawText} END`;
  if (l.body === 'split' && l.hasJsonColumn) {
    const hasRaw = l.columns.messages.some((c) => c.name === 'msg_raw');
    return hasRaw
      ? { body: `CASE WHEN msg_json IS NOT NULL THEN msg_json::text ELSE ${limited} END`, bytes: `CASE WHEN msg_json IS NOT NULL THEN 0 ELSE ${rawBytes} END` }
      : { body: 'msg_json::text', bytes: '0' };
  }
  return { body: limited, bytes: rawBytes };
}

export interface MessageBatch {
  messages: SourceRow[];
  users: Bridge[];
  packages: Bridge[];
}

/** Messages in id order, `size` at a time, with their bridge rows. */
export async function* readMessages(db: Queryable, l: SourceLayout, size: number): AsyncGenerator<MessageBatch> {
  const s = qi(l.schema);
  const has = (c: string) => l.columns.messages.some((x) => x.name === c);
  const col = (c: string) => (has(c) ? qi(c) : 'NULL');
  const b = bodySql(l);
  let after = -2147483648;
  for (;;) {
    const { rows } = await db.query<SourceRow>(
      `SELECT id, msg_id, ${has('i') ? 'i' : '1'} AS i, topic, "timestamp"::text AS "timestamp", ${col('category')} AS category,
              ${col('agent_name')} AS agent_name, ${col('source_name')} AS source_name, ${col('source_version')} AS source_version,
              ${b.body} AS body, (${b.bytes})::float8 AS bytes, headers::jsonb AS headers
         FROM ${s}.messages WHERE id > $1 ORDER BY id LIMIT $2`,
      [after, size],
    );
    if (rows.length === 0) return;
    const first = rows[0]!.id;
    after = rows[rows.length - 1]!.id;
    const bridges = async (table: string, ref: string) =>
      (
        await db.query<Bridge>(
          `SELECT ${ref} AS ref, msg_id, msg_timestamp::text AS msg_timestamp FROM ${s}.${table} WHERE msg_id BETWEEN $1 AND $2`,
          [first, after],
        )
      ).rows;
    yield { messages: rows, users: await bridges('users_messages', 'user_id'), packages: await bridges('packages_messages', 'package_id') };
    if (rows.length < size) return;
  }
}

export async function readUsers(db: Queryable, schema: string): Promise<Map<number, string>> {
  const { rows } = await db.query<{ id: number; name: string }>(`SELECT id, name FROM ${qi(schema)}.users`);
  return new Map(rows.map((r) => [r.id, r.name]));
}
