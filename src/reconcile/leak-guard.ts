// Before the pseudonymized tier is granted, look for personal data in it: column names from the
// policy's PII dictionary, JSON keys and paths it names, and values that look personal (e-mail
// addresses, IP addresses, usernames that exist in the PII tables). Reads data, so it runs only
// with a connection that may read both tiers (the DBA's reconcile); the gate's login cannot.
// A hit names the table, the column, the rule and an example row id, never the value.
//
// Key-pattern rule (documented in policies/policy.yaml): a pattern of the form `prefix_*` names a
// subject in the key (`fedora_messaging_user_<x>`): the key is a leak when <x> is a username or
// e-mail found in the PII tables, or any e-mail address; a pseudonym there is fine. Any other
// pattern (`author_name`, `*email*`) is a leak when such a key is present with a non-empty value.
import type pg from 'pg';
import type { Policy } from '../policy/schema.js';
import { quoteIdent as qi } from '../provisioner/sql.js';
import { globRegex } from './desired.js';

export interface LeakHit {
  table: string;
  column: string;
  rule: 'dictionary-column' | 'json-key' | 'json-path' | 'email' | 'ip-address' | 'username';
  /** Primary-key value(s) of an example row (or its ctid); null for a column with no rows. */
  rowId: string | null;
  /** For JSON hits: the key or path pattern (policy text), never the matched value. */
  pattern?: string;
}

type Queryable = Pick<pg.ClientBase, 'query'>;
type LeakPolicy = Pick<Policy, 'tiers' | 'pii_dictionary' | 'leak_guard'>;

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;
const IPV4 = /(?<![\d.])(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(?![\d.])/;
// Full form, or compressed with `::` and at least one more group (timestamps like 10:00:00 never match).
const IPV6 = /(?<![\w:])((?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,6}:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*|::(?:ffff:)?[0-9a-f]{1,4}(?::[0-9a-f]{1,4})+)(?![\w:])/i;
const TOKENS = /[^a-z0-9_.-]+/;

interface ColumnInfo {
  table: string;
  schema: string;
  name: string;
  kind: string;
  rowsEstimate: number;
  rowId: string;
  /** The primary key's columns (empty: the row id is the ctid). */
  keyColumns: string[];
  columns: { name: string; type: 'text' | 'json' | 'other' }[];
}

async function describeTables(db: Queryable, tables: string[]): Promise<ColumnInfo[]> {
  if (tables.length === 0) return [];
  const { rows } = await db.query<ColumnInfo>(
    `SELECT format('%s.%s', n.nspname, c.relname) AS table, n.nspname AS schema, c.relname AS name, c.relkind AS kind,
            c.reltuples::float8 AS "rowsEstimate",
            COALESCE((SELECT 'concat_ws('','', ' || string_agg(quote_ident(a.attname) || '::text', ', ' ORDER BY k.ord) || ')'
                        FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                       WHERE i.indrelid = c.oid AND i.indisprimary), 'ctid::text') AS "rowId",
            COALESCE((SELECT array_agg(a.attname::text ORDER BY k.ord)
                        FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                       WHERE i.indrelid = c.oid AND i.indisprimary), '{}') AS "keyColumns",
            COALESCE((SELECT json_agg(json_build_object('name', a.attname, 'type',
                        CASE WHEN t.typname IN ('json', 'jsonb') THEN 'json'
                             WHEN t.typcategory = 'S' OR t.typname IN ('inet', 'cidr') THEN 'text' ELSE 'other' END) ORDER BY a.attnum)
                        FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]'::json) AS columns
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE format('%s.%s', n.nspname, c.relname) = ANY($1::text[])
      ORDER BY 1`,
    [tables],
  );
  return rows;
}

/** Every value of every dictionary column in the PII schemas (usernames, e-mails, names), lower case. */
async function personalValues(db: Queryable, policy: LeakPolicy): Promise<Set<string>> {
  const patterns = policy.pii_dictionary.columns.map((c) => globRegex(c.column));
  const { rows } = await db.query<{ schema: string; table: string; column: string }>(
    `SELECT n.nspname AS schema, c.relname AS table, a.attname AS column
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       JOIN pg_type t ON t.oid = a.atttypid
      WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition AND t.typcategory = 'S'`,
    [policy.tiers.pii.schemas],
  );
  const values = new Set<string>();
  for (const r of rows.filter((r) => patterns.some((p) => p.test(`${r.schema}.${r.table}.${r.column}`)))) {
    const res = await db.query<{ v: string }>(
      `SELECT DISTINCT lower(${qi(r.column)}::text) AS v FROM ${qi(r.schema)}.${qi(r.table)} WHERE ${qi(r.column)} IS NOT NULL`,
    );
    for (const { v } of res.rows) if (v.length > 1) values.add(v);
  }
  return values;
}

interface JsonRule {
  /** subject: `prefix_*`, the wildcard names someone; presence: the key itself is personal. */
  keys: { pattern: string; re: RegExp; subject: boolean }[];
  paths: string[];
}

function jsonRules(policy: LeakPolicy, column: string): JsonRule {
  const entries = policy.pii_dictionary.json.filter((j) => globRegex(j.column).test(column));
  return {
    keys: entries.flatMap((j) =>
      j.key_patterns.map((pattern) => ({
        pattern,
        re: globRegex(pattern, true),
        subject: /^[^*]+\*$/.test(pattern),
      })),
    ),
    paths: entries.flatMap((j) => j.paths),
  };
}

type Finding = Pick<LeakHit, 'rule' | 'pattern'>;

function checkString(s: string, personal: Set<string>): Finding | null {
  if (EMAIL.test(s)) return { rule: 'email' };
  if (IPV4.test(s) || IPV6.test(s)) return { rule: 'ip-address' };
  const lower = s.toLowerCase();
  if (personal.has(lower)) return { rule: 'username' };
  for (const t of lower.split(TOKENS)) if (t.length > 1 && personal.has(t)) return { rule: 'username' };
  return null;
}

function keyNamesSomeone(key: string, personal: Set<string>): boolean {
  if (personal.has(key)) return true;
  for (let i = 0; i < key.length; i++) if ('_.-'.includes(key[i]!) && personal.has(key.slice(i + 1))) return true;
  return false;
}

const nonEmpty = (v: unknown) => v !== null && v !== undefined && v !== '' && !(typeof v === 'object' && Object.keys(v).length === 0);

function checkJson(value: unknown, rules: JsonRule, personal: Set<string>): Finding | null {
  for (const path of rules.paths) {
    let cur: unknown = value;
    for (const part of path.split('.')) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[part] : undefined;
    if (nonEmpty(cur)) return { rule: 'json-path', pattern: path };
  }
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      const f = checkString(v, personal);
      if (f) return f;
    } else if (Array.isArray(v)) {
      stack.push(...v);
    } else if (v !== null && typeof v === 'object') {
      for (const [key, child] of Object.entries(v)) {
        for (const k of rules.keys) {
          const m = k.re.exec(key);
          if (!m) continue;
          if (!k.subject ? nonEmpty(child) : personal.has(m[1]!.toLowerCase()) || EMAIL.test(m[1]!)) return { rule: 'json-key', pattern: k.pattern };
        }
        // Keys are data too (usernames hide in key names), in any JSON column: the key or any
        // part after a separator (`..._user_<x>`) equal to a known username or e-mail is a leak.
        if (EMAIL.test(key) || keyNamesSomeone(key.toLowerCase(), personal)) return { rule: 'json-key' };
        stack.push(child);
      }
    }
  }
  return null;
}

/** Runs the guard over `tables` (`schema.table`, the pseudonymized tables about to be granted). */
export async function runLeakGuard(db: Queryable, policy: LeakPolicy, tables: string[]): Promise<LeakHit[]> {
  const infos = await describeTables(db, tables);
  if (infos.length === 0) return [];
  const personal = await personalValues(db, policy);
  const dictionary = policy.pii_dictionary.columns.map((c) => globRegex(c.column));
  const n = policy.leak_guard.sample_rows;
  const hits: LeakHit[] = [];
  for (const t of infos) {
    const from = `${qi(t.schema)}.${qi(t.name)}`;
    // Views and foreign tables have no ctid.
    const ctid = ['r', 'm', 'p'].includes(t.kind) ? 'ctid::text' : 'NULL::text';
    const rowIdSql = t.rowId === 'ctid::text' ? ctid : t.rowId;
    const named = t.columns.filter((c) => dictionary.some((re) => re.test(`${t.table}.${c.name}`)));
    if (named.length > 0) {
      const first = await db.query<{ id: string; ctid: string }>(`SELECT ${rowIdSql} AS id, ${ctid} AS ctid FROM ${from} LIMIT 1`);
      const row = first.rows[0];
      for (const c of named) {
        const rowId = row ? (t.keyColumns.includes(c.name) ? `ctid ${row.ctid}` : row.id) : null;
        hits.push({ table: t.table, column: c.name, rule: 'dictionary-column', rowId });
      }
    }
    const checked = t.columns.filter((c) => c.type !== 'other' && !named.includes(c));
    if (checked.length === 0) continue;
    // Sample without reading a big table whole; small tables are read entirely (up to n rows).
    const fraction = Math.min(100, (200 * n) / Math.max(1, t.rowsEstimate));
    const sample = t.kind !== 'v' && t.kind !== 'f' && fraction < 100 ? ` TABLESAMPLE BERNOULLI (${fraction.toFixed(6)})` : '';
    const { rows } = await db.query<Record<string, unknown>>({
      text: `SELECT ${rowIdSql} AS "__row_id", ${ctid} AS "__ctid", ${checked.map((c) => (c.type === 'json' ? qi(c.name) : `${qi(c.name)}::text AS ${qi(c.name)}`)).join(', ')}
               FROM ${from}${sample} LIMIT ${Math.trunc(n)}`,
    });
    for (const c of checked) {
      const rules = c.type === 'json' ? jsonRules(policy, `${t.table}.${c.name}`) : null;
      for (const row of rows) {
        const v = row[c.name];
        if (v === null || v === undefined) continue;
        const f = rules ? checkJson(v, rules, personal) : checkString(String(v), personal);
        if (f) {
          // A key made of the leaking column would show the very value: point at the row's ctid instead.
          const id = t.keyColumns.includes(c.name) ? (row.__ctid === null ? null : `ctid ${String(row.__ctid)}`) : row.__row_id;
          const rowId = id === null || id === undefined ? null : String(id);
          hits.push({ table: t.table, column: c.name, ...f, rowId });
          break;
        }
      }
    }
  }
  return hits;
}
