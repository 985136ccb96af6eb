// Loads the deterministic demo warehouse: Datanommer-shaped source rows, their pseudonymized
// copies and the personal data split off into `pii`, all in one transaction.
import type pg from 'pg';
import { flush, flushTogether, RowBatch, type ColumnSpec } from './bulk.js';
import { generateMessage, type GeneratorContext } from './messages.js';
import { makePackages, makeUsers } from './population.js';
import { Prng } from './prng.js';
import { pseudonymTable } from './pseudonym.js';
import { COPY_BRIDGES_SQL, CREATE_SQL, FINISH_SQL, SCHEMAS } from './schema.js';
import { transformMessage } from './transform.js';
import type { DemoPackage, DemoUser, JsonObject } from './types.js';

export interface DemoWarehouseOptions {
  messages: number;
  seed: number;
  pseudonymKey: string;
  onProgress?: (done: number, total: number) => void;
}

export interface DemoWarehouseSummary {
  messages: number;
  users: number;
  packages: number;
  seconds: number;
}

/** Messages per statement: big enough to amortise round trips, small enough for memory. */
const BATCH = 5_000;

const messageSpec = (agentColumn: string): ColumnSpec => [
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
];

type Row = Record<string, string | number | null | JsonObject>;

/** One batch per table written while streaming messages. */
function messageBatches() {
  const bridge = (table: string, idColumn: string) =>
    new RowBatch<Row>(table, [
      [idColumn, 'int'],
      ['msg_id', 'int'],
      ['msg_timestamp', 'timestamp'],
    ]);
  return {
    source: new RowBatch<Row>('datanommer.messages', messageSpec('agent_name')),
    pseudo: new RowBatch<Row>('pseudonymized.messages', messageSpec('agent_pseudonym')),
    users: bridge('datanommer.users_messages', 'user_id'),
    packages: bridge('datanommer.packages_messages', 'package_id'),
    texts: new RowBatch<Row>('pii.message_text', [
      ['msg_id', 'text'],
      ['kind', 'text'],
      ['author_name', 'text'],
      ['author_email', 'text'],
      ['body', 'text'],
    ]),
  };
}

/**
 * `db` is a pg.Client or pg.PoolClient connected as a superuser/owner to the warehouse database.
 * Idempotent: drops and recreates schemas datanommer, pseudonymized, pii (and with them any
 * grants on them: re-grant after a reload).
 */
export async function loadDemoWarehouse(db: pg.ClientBase, opts: DemoWarehouseOptions): Promise<DemoWarehouseSummary> {
  const started = performance.now();
  const total = opts.messages;
  if (!Number.isInteger(total) || total < 0) throw new Error('messages must be a non-negative integer');

  // Everything below draws from this one stream in a fixed order: same seed, same bytes.
  const prng = new Prng(opts.seed);
  const packages = makePackages(prng);
  const users = makeUsers(prng, packages);
  const pseudonyms = await pseudonymTable(opts.pseudonymKey, users.map((u) => u.username));
  const userIds = new Map(users.map((u) => [u.username, u.id]));
  const packageIds = new Map(packages.map((p) => [p.name, p.id]));
  const ctx: GeneratorContext = { prng, users, packages, total };

  await db.query('BEGIN');
  try {
    await db.query(CREATE_SQL);
    await insertPopulation(db, users, packages, pseudonyms);

    let inFlight: Promise<void> | null = null;
    for (let first = 0; first < total; first += BATCH) {
      const end = Math.min(first + BATCH, total);
      const b = messageBatches();
      for (let k = first; k < end; k++) {
        const src = generateMessage(ctx, k);
        const { message: p, texts } = transformMessage(src, pseudonyms);
        // Plain literals, not a spread of shared fields: this runs 200,000 times per load.
        b.source.push({
          id: src.id,
          msg_id: src.msgId,
          i: src.i,
          topic: src.topic,
          timestamp: src.timestamp,
          category: src.category,
          agent_name: src.agentName,
          source_name: src.sourceName,
          source_version: src.sourceVersion,
          msg: src.msg,
          headers: src.headers,
        });
        b.pseudo.push({
          id: p.id,
          msg_id: p.msgId,
          i: p.i,
          topic: p.topic,
          timestamp: p.timestamp,
          category: p.category,
          agent_pseudonym: p.agentPseudonym,
          source_name: p.sourceName,
          source_version: p.sourceVersion,
          msg: p.msg,
          headers: p.headers,
        });
        for (const u of src.usernames) {
          b.users.push({ user_id: userIds.get(u) as number, msg_id: src.id, msg_timestamp: src.timestamp });
        }
        for (const name of src.packages) {
          b.packages.push({ package_id: packageIds.get(name) as number, msg_id: src.id, msg_timestamp: src.timestamp });
        }
        for (const t of texts) {
          b.texts.push({ msg_id: t.msgId, kind: t.kind, author_name: t.authorName, author_email: t.authorEmail, body: t.body });
        }
      }
      // One statement per batch, sent without waiting: PostgreSQL stores batch n while this
      // loop generates batch n+1 (two cores). Only one query is ever outstanding on `db`.
      if (inFlight) await inFlight;
      const sent = flushTogether(db, Object.values(b)).then(() => opts.onProgress?.(end, total));
      sent.catch(() => {}); // the rejection surfaces at the next `await inFlight`
      inFlight = sent;
    }
    if (inFlight) await inFlight;

    // Bridge rows hold only ids and times (user ids map to pseudonyms in pseudonymized.users),
    // so the pseudonymized tier gets a server-side copy instead of a second upload.
    await db.query(COPY_BRIDGES_SQL);
    await db.query(FINISH_SQL);
    await db.query('COMMIT');
  } catch (e) {
    await db.query('ROLLBACK').catch(() => {});
    throw e;
  }
  return {
    messages: total,
    users: users.length,
    packages: packages.length,
    seconds: Math.round((performance.now() - started) / 10) / 100,
  };
}

async function insertPopulation(
  db: pg.ClientBase,
  users: readonly DemoUser[],
  packages: readonly DemoPackage[],
  pseudonyms: ReadonlyMap<string, string>,
): Promise<void> {
  const sourceUsers = new RowBatch<Row>('datanommer.users', [['id', 'int'], ['name', 'text']]);
  const pseudoUsers = new RowBatch<Row>('pseudonymized.users', [['id', 'int'], ['pseudonym', 'text']]);
  const piiUsers = new RowBatch<Row>('pii.users', [['pseudonym', 'text'], ['username', 'text'], ['email', 'text']]);
  for (const u of users) {
    const pseudonym = pseudonyms.get(u.username) as string;
    sourceUsers.push({ id: u.id, name: u.username });
    pseudoUsers.push({ id: u.id, pseudonym });
    piiUsers.push({ pseudonym, username: u.username, email: u.email });
  }
  const sourcePackages = new RowBatch<Row>('datanommer.packages', [['id', 'int'], ['name', 'text']]);
  const pseudoPackages = new RowBatch<Row>('pseudonymized.packages', [['id', 'int'], ['name', 'text']]);
  for (const p of packages) {
    sourcePackages.push({ id: p.id, name: p.name });
    pseudoPackages.push({ id: p.id, name: p.name });
  }
  for (const b of [sourceUsers, pseudoUsers, piiUsers, sourcePackages, pseudoPackages]) await flush(db, b);
}

/** true if the three schemas exist and pseudonymized.messages has rows (skip reload on a second start). */
export async function demoWarehouseLoaded(db: pg.ClientBase): Promise<boolean> {
  const { rows } = await db.query<{ schemas: number; table: boolean }>(
    `SELECT (SELECT count(*)::int FROM pg_namespace WHERE nspname = ANY($1::text[])) AS schemas,
            to_regclass('pseudonymized.messages') IS NOT NULL AS table`,
    [SCHEMAS],
  );
  if (rows[0]?.schemas !== SCHEMAS.length || !rows[0].table) return false;
  const r = await db.query<{ loaded: boolean }>('SELECT EXISTS (SELECT 1 FROM pseudonymized.messages) AS loaded');
  return r.rows[0]?.loaded === true;
}
