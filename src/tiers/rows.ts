// Batch inserts with one JSON parameter per table (see src/demo/bulk.ts for why JSON, not
// arrays): INSERT INTO t (cols) SELECT cols FROM jsonb_to_recordset($1) ... ON CONFLICT DO NOTHING.
// Table and column names are code constants, never data.
import type pg from 'pg';

/** [column, type in the JSON record, optional cast on the way into the table]. */
export type Spec = ReadonlyArray<readonly [name: string, type: string, cast?: string]>;
export type Queryable = Pick<pg.ClientBase, 'query'>;

export function insertSql(table: string, spec: Spec, o: { param?: number; where?: string; returning?: string } = {}): string {
  const names = spec.map(([n]) => `"${n}"`).join(', ');
  const exprs = spec.map(([n, , cast]) => (cast ? `"${n}"::${cast}` : `"${n}"`)).join(', ');
  const record = spec.map(([n, t]) => `"${n}" ${t}`).join(', ');
  return (
    `INSERT INTO ${table} (${names}) SELECT ${exprs} FROM jsonb_to_recordset($${o.param ?? 1}::jsonb) AS r(${record})` +
    `${o.where ? ` WHERE ${o.where}` : ''} ON CONFLICT DO NOTHING${o.returning ? ` RETURNING ${o.returning}` : ''}`
  );
}

export async function insertRows(db: Queryable, table: string, spec: Spec, rows: readonly object[], where?: string): Promise<number> {
  if (rows.length === 0) return 0;
  const r = await db.query(insertSql(table, spec, where ? { where } : {}), [JSON.stringify(rows)]);
  return r.rowCount ?? 0;
}

/** A messages row: the source's has agent_name, the pseudonymized tier's agent_pseudonym. */
export const messageSpec = (agentColumn: 'agent_name' | 'agent_pseudonym') =>
  [
    ['id', 'int'],
    ['msg_id', 'text'],
    ['i', 'int'],
    ['topic', 'text'],
    ['timestamp', 'timestamp'],
    ['category', 'text'],
    [agentColumn, 'text'],
    ['source_name', 'text'],
    ['source_version', 'text'],
    ['msg', 'jsonb'],
    ['headers', 'jsonb'],
  ] as const satisfies Spec;
export const MESSAGE_SPEC: Spec = messageSpec('agent_pseudonym');
export const LTREE_COLUMN = ['topic_ltree', 'text', 'public.ltree'] as const;
export const TIER_USER_SPEC: Spec = [['id', 'bigint'], ['pseudonym', 'text'], ['period', 'text']];
export const PII_USER_SPEC: Spec = [['pseudonym', 'text'], ['username', 'text'], ['email', 'text'], ['period', 'text']];
export const PACKAGE_SPEC: Spec = [['id', 'int'], ['name', 'text']];
export const USER_BRIDGE_SPEC: Spec = [['user_id', 'bigint'], ['msg_id', 'int'], ['msg_timestamp', 'timestamp']];
export const PACKAGE_BRIDGE_SPEC: Spec = [['package_id', 'int'], ['msg_id', 'int'], ['msg_timestamp', 'timestamp']];
export const TEXT_SPEC: Spec = [['msg_id', 'text'], ['kind', 'text'], ['author_name', 'text'], ['author_email', 'text'], ['body', 'text']];
export const QUARANTINE_SPEC: Spec = [
  ['id', 'int'],
  ['msg_id', 'text'],
  ['timestamp', 'timestamp'],
  ['topic', 'text'],
  ['reason', 'text'],
  ['bytes', 'bigint'],
  ['body', 'text'],
];
