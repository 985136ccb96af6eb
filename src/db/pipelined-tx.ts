// A control transaction on one pooled connection in pg's pipeline mode (pg >= 8.23): statements
// issued without awaiting each other are written together and answered in order, so reads that
// follow a lock cost one round trip with it, and writes another. Each pipelined statement still
// runs on its own in the server, in order, with its own snapshot: a read queued behind a lock runs
// only once the lock is held and sees what committed while it was awaited.
import { drizzle } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import type { ControlDb } from './client.js';
import * as schema from './schema.js';

type PipelineClient = pg.PoolClient & { pipeline: boolean };

// One drizzle per pooled connection, made on its first pipelined transaction: drizzle(client,
// { schema }) extracts the schema's relational config on every call (about 85 us here), which a
// transaction on the path of a credential issue or an approval should not pay each time.
const perClient = new WeakMap<pg.PoolClient, ControlDb>();

export interface PipelinedOptions {
  /** A statement of constants sent with BEGIN as its first statement (a lock); never values. */
  afterBegin?: string;
}

/**
 * Runs `work` between BEGIN (plus `afterBegin`) and COMMIT; rolls back when `work` throws.
 * `afterCommit`, when given, is written right behind COMMIT (one round trip for both), runs outside
 * the transaction, and its answer is used only once COMMIT succeeded.
 */
export async function inPipelinedTransaction<T, R = T>(
  db: ControlDb,
  o: PipelinedOptions,
  work: (tx: ControlDb) => Promise<T>,
  afterCommit?: (db: ControlDb, result: T) => Promise<R>,
): Promise<R> {
  // drizzle keeps the pool it was made with as $client (see controlDb).
  const pool = (db as unknown as { $client?: Partial<pg.Pool> }).$client;
  if (typeof pool?.totalCount !== 'number' || !pool.connect) throw new Error('a pipelined transaction needs the control pool');
  const client = (await (pool as pg.Pool).connect()) as PipelineClient;
  client.pipeline = true;
  let tx = perClient.get(client);
  if (!tx) perClient.set(client, (tx = drizzle(client, { schema })));
  let broken: Error | undefined;
  try {
    // BEGIN (and the lock) are queued at once; work's statements follow on the wire in the order
    // they are issued (each goes through the same drizzle path to client.query).
    const begun = client.query(o.afterBegin ? `BEGIN; ${o.afterBegin}` : 'BEGIN');
    begun.catch(() => {});
    let result: T;
    try {
      result = await work(tx);
      await begun;
    } catch (err) {
      await begun.catch(() => {});
      await client.query('ROLLBACK').catch((rollbackFailed: Error) => {
        broken = rollbackFailed;
      });
      throw err;
    }
    const after = afterCommit ?? (async (_db: ControlDb, r: T) => r as unknown as R);
    const [committed, read] = await Promise.allSettled([client.query('COMMIT'), after(tx, result)]);
    if (committed.status === 'rejected') {
      // A connection that failed its COMMIT serves nobody else.
      broken = committed.reason as Error;
      throw committed.reason;
    }
    if (read.status === 'rejected') throw read.reason;
    return read.value;
  } finally {
    client.pipeline = false;
    client.release(broken);
  }
}
