// `tiers build`: the pseudonymized and pii tiers from a whole Datanommer database, in one
// transaction on the warehouse: the tiers' tables are dropped and made again, filled, indexed,
// and the leak guard runs on them before COMMIT, so nobody ever sees a table it did not pass.
// Re-grant afterwards (the reconciler, or bootstrap for the demo), as after any new table.
import type pg from 'pg';
import type { Policy } from '../policy/schema.js';
import { quoteIdent as qi } from '../provisioner/sql.js';
import { type LeakHit, runLeakGuard } from '../reconcile/leak-guard.js';
import { type KeySource, Pseudonymizer } from './keys.js';
import { type BatchResult, newUserRows, type PipelineOptions, processBatch } from './pipeline.js';
import { compileRules } from './rewrite.js';
import { insertRows, PACKAGE_SPEC, PII_USER_SPEC, type Queryable, TIER_USER_SPEC } from './rows.js';
import { createTiersSql, finishTiersSql, PSEUDONYMIZED_TABLES } from './schema.js';
import { detectLayout, readMessages, readUsers, type SourceLayout } from './source.js';

export type TierPolicy = Pick<Policy, 'tiers' | 'pii_dictionary' | 'leak_guard' | 'pseudonyms'>;

export interface BuildOptions {
  /** The Datanommer database (may be the warehouse's own client, e.g. schema `datanommer`). */
  source: Queryable;
  sourceSchema: string;
  /** The warehouse, as the owner of the tiers' tables. */
  target: pg.ClientBase;
  policy: TierPolicy;
  keys: KeySource;
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface BuildSummary {
  layout: SourceLayout;
  messages: number;
  published: number;
  quarantined: number;
  users: number;
  ltree: boolean;
  seconds: number;
}

export class LeakGuardRefused extends Error {
  constructor(readonly hits: LeakHit[]) {
    super(`the leak guard found personal data: ${hits.map((h) => `${h.table}.${h.column} (${h.rule}, row ${h.rowId ?? '-'})`).join('; ')}; nothing was published`);
  }
}

/** ltree is a contrib extension: used when it is there or may be created, else topic_ltree is left out. */
export async function ensureLtree(db: pg.ClientBase): Promise<boolean> {
  await db.query('SAVEPOINT ltree');
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS ltree WITH SCHEMA public');
    await db.query('RELEASE SAVEPOINT ltree');
    return true;
  } catch {
    await db.query('ROLLBACK TO SAVEPOINT ltree');
    return false;
  }
}

export async function guard(db: Queryable, policy: TierPolicy, tables: string[]): Promise<void> {
  const hits = await runLeakGuard(db, policy, tables);
  if (hits.length > 0) throw new LeakGuardRefused(hits);
}

export async function buildTiers(o: BuildOptions): Promise<BuildSummary> {
  const started = performance.now();
  const db = o.target;
  const rotation = o.policy.pseudonyms.rotation;
  await o.source.query(`SET DateStyle = ISO`);
  const layout = await detectLayout(o.source, o.sourceSchema);
  const s = qi(o.sourceSchema);
  const total = Number((await o.source.query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.messages`)).rows[0]!.n);
  const userNames = await readUsers(o.source, o.sourceSchema);
  const userIds = new Map([...userNames].map(([id, name]) => [name, id]));
  const pseudonymizer = new Pseudonymizer(rotation, o.keys);
  let published = 0;
  let quarantined = 0;
  let ltree = false;

  await db.query('BEGIN');
  try {
    await db.query(`SET DateStyle = ISO`);
    ltree = await ensureLtree(db);
    await db.query(createTiersSql(ltree));
    const packages = (await o.source.query<{ id: number; name: string }>(`SELECT id, name FROM ${s}.packages`)).rows;
    const opts: PipelineOptions = {
      rules: compileRules(o.policy.pii_dictionary.messages),
      pseudonymizer,
      userNames,
      userIds,
      known: new Set(userNames.values()),
      packageIds: new Set(packages.map((p) => p.id)),
      pseudoSchema: 'pseudonymized',
      bridgeSchema: 'pseudonymized',
      ltree,
      topoff: false,
      seen: new Set(),
    };
    // Without rotation every account has its one pseudonym from the start, messages or not.
    if (rotation === 'none') {
      const tierUsers: object[] = [];
      const piiUsers: object[] = [];
      newUserRows(opts, 'all', userNames.values(), tierUsers, piiUsers);
      await insertRows(db, 'pseudonymized.users', TIER_USER_SPEC, tierUsers);
      await insertRows(db, 'pii.users', PII_USER_SPEC, piiUsers);
    }
    await insertRows(db, 'pseudonymized.packages', PACKAGE_SPEC, packages);

    const done = (r: BatchResult) => {
      published += r.published;
      quarantined += r.quarantined;
      o.onProgress?.(published + quarantined, total);
    };
    // With a source of its own, batch n is stored while batch n+1 is read and rewritten (two
    // cores): the rewrite runs inside processBatch's first, synchronous part; pg queues the write.
    const overlap = o.source !== db;
    let inFlight: Promise<BatchResult> | null = null;
    for await (const b of readMessages(o.source, layout, o.batch ?? 5_000)) {
      const sent = processBatch(db, opts, b.messages, b.users, b.packages);
      if (!overlap) {
        done(await sent);
        continue;
      }
      sent.catch(() => {}); // surfaces at its await below
      if (inFlight) done(await inFlight);
      inFlight = sent;
    }
    if (inFlight) done(await inFlight);
    await db.query(finishTiersSql(ltree));
    const through = await o.source.query<{ day: string | null }>(`SELECT max("timestamp")::date::text AS day FROM ${s}.messages`);
    await db.query(`INSERT INTO tiers.state (source_schema, layout, rotation, built_through) VALUES ($1, $2, $3, $4)`, [
      o.sourceSchema,
      `${layout.body}${layout.hypertable ? ' hypertable' : ''}`,
      rotation,
      through.rows[0]?.day ?? null,
    ]);
    await guard(db, o.policy, [...PSEUDONYMIZED_TABLES]);
    await db.query('COMMIT');
  } catch (e) {
    await db.query('ROLLBACK').catch(() => {});
    throw e;
  }
  return {
    layout,
    messages: total,
    published,
    quarantined,
    users: userNames.size,
    ltree,
    seconds: Math.round((performance.now() - started) / 10) / 100,
  };
}
