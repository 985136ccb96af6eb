// The deterministic demo warehouse: a generated Datanommer-shaped source (schema `datanommer`),
// then the tiers built from it by the same pipeline as a real replica's (src/tiers/build.ts).
import pg from 'pg';
import { connectClient } from '../db/client.js';
import { singleKey } from '../tiers/keys.js';
import { buildTiers, type TierPolicy } from '../tiers/build.js';
import { messageSpec } from '../tiers/rows.js';
import { flush, flushTogether, RowBatch, type ColumnSpec } from './bulk.js';
import { generateMessage, type GeneratorContext } from './messages.js';
import { makePackages, makeUsers } from './population.js';
import { Prng } from './prng.js';
import { CREATE_SQL, FINISH_SQL, SCHEMAS } from './schema.js';
import type { JsonObject } from './types.js';

export interface DemoWarehouseOptions {
  messages: number;
  seed: number;
  pseudonymKey: string;
  /** The policy's PII dictionary drives the pseudonymization; its leak guard checks the result. */
  policy: TierPolicy;
  onProgress?: (done: number, total: number) => void;
}

export interface DemoWarehouseSummary {
  messages: number;
  users: number;
  packages: number;
  quarantined: number;
  seconds: number;
}

/** Messages per statement: big enough to amortise round trips, small enough for memory. */
const BATCH = 5_000;

const MESSAGE_SPEC: ColumnSpec = messageSpec('agent_name');

type Row = Record<string, string | number | null | JsonObject>;

const bridge = (table: string, idColumn: string) =>
  new RowBatch<Row>(table, [
    [idColumn, 'int'],
    ['msg_id', 'int'],
    ['msg_timestamp', 'timestamp'],
  ]);

/** The settings `db` connected with (pg keeps them on the client). */
function connectionOf(db: pg.ClientBase): pg.ClientConfig {
  const p = (db as unknown as { connectionParameters: pg.ClientConfig & { host: string } }).connectionParameters;
  return { host: p.host, port: p.port, user: p.user, password: p.password, database: p.database };
}

/**
 * `db` is a pg.Client or pg.PoolClient connected as a superuser/owner to the warehouse database.
 * Idempotent: drops and recreates schemas datanommer, pseudonymized, pii, tiers (and with them
 * any grants on them: re-grant after a reload). Source first (its own transaction), then the
 * build (another): a crash in between leaves no tiers, so the next start loads again.
 */
export async function loadDemoWarehouse(db: pg.ClientBase, opts: DemoWarehouseOptions): Promise<DemoWarehouseSummary> {
  const started = performance.now();
  const total = opts.messages;
  if (!Number.isInteger(total) || total < 0) throw new Error('messages must be a non-negative integer');
  // Everything below draws from this one stream in a fixed order: same seed, same bytes.
  const prng = new Prng(opts.seed);
  const packages = makePackages(prng);
  const users = makeUsers(prng, packages);
  const userIds = new Map(users.map((u) => [u.username, u.id]));
  const packageIds = new Map(packages.map((p) => [p.name, p.id]));
  const ctx: GeneratorContext = { prng, users, packages, total };
  // Generating is half the work, building the other half: progress counts both.
  const progress = (done: number) => opts.onProgress?.(Math.floor(done / 2), total);

  await db.query('BEGIN');
  try {
    await db.query(CREATE_SQL);
    const sourceUsers = new RowBatch<Row>('datanommer.users', [['id', 'int'], ['name', 'text']]);
    for (const u of users) sourceUsers.push({ id: u.id, name: u.username });
    const sourcePackages = new RowBatch<Row>('datanommer.packages', [['id', 'int'], ['name', 'text']]);
    for (const p of packages) sourcePackages.push({ id: p.id, name: p.name });
    await flush(db, sourceUsers);
    await flush(db, sourcePackages);

    let inFlight: Promise<void> | null = null;
    for (let first = 0; first < total; first += BATCH) {
      const end = Math.min(first + BATCH, total);
      const b = {
        messages: new RowBatch<Row>('datanommer.messages', MESSAGE_SPEC),
        users: bridge('datanommer.users_messages', 'user_id'),
        packages: bridge('datanommer.packages_messages', 'package_id'),
      };
      for (let k = first; k < end; k++) {
        const src = generateMessage(ctx, k);
        // Plain literals, not a spread of shared fields: this runs 200,000 times per load.
        b.messages.push({
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
        for (const u of src.usernames) b.users.push({ user_id: userIds.get(u) as number, msg_id: src.id, msg_timestamp: src.timestamp });
        for (const name of src.packages) b.packages.push({ package_id: packageIds.get(name) as number, msg_id: src.id, msg_timestamp: src.timestamp });
      }
      // One statement per batch, sent without waiting: PostgreSQL stores batch n while this
      // loop generates batch n+1 (two cores). Only one query is ever outstanding on `db`.
      if (inFlight) await inFlight;
      const sent = flushTogether(db, Object.values(b)).then(() => progress(end));
      sent.catch(() => {}); // the rejection surfaces at the next `await inFlight`
      inFlight = sent;
    }
    if (inFlight) await inFlight;
    await db.query(FINISH_SQL);
    await db.query('COMMIT');
  } catch (e) {
    await db.query('ROLLBACK').catch(() => {});
    throw e;
  }

  // The build reads the committed source on a second connection, so reading and writing overlap.
  const reader = await connectClient(connectionOf(db));
  const built = await buildTiers({
    source: reader,
    sourceSchema: 'datanommer',
    target: db,
    policy: opts.policy,
    keys: singleKey(opts.pseudonymKey),
    onProgress: (done) => progress(total + done),
  }).finally(() => reader.end());
  return {
    messages: total,
    users: users.length,
    packages: packages.length,
    quarantined: built.quarantined,
    seconds: Math.round((performance.now() - started) / 10) / 100,
  };
}

/** true if the schemas exist and pseudonymized.messages has rows (skip reload on a second start). */
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
