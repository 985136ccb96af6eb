// A control transaction on one pooled connection in pg's pipeline mode (pg >= 8.23): statements
// issued without awaiting each other are written together and answered in order, so the decision's
// reads (role-change lock, request lock, votes) cost one round trip and its writes another. Each
// pipelined statement still runs on its own in the server, with its own snapshot: a read issued
// after a lock sees what committed while the lock was awaited.
import { drizzle } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import type { ControlDb } from '../db/client.js';
import { holdRoleChangeLock } from '../db/role-change-lock.js';
import * as schema from '../db/schema.js';

type PipelineClient = pg.PoolClient & { pipeline: boolean };

/**
 * Runs `work` between BEGIN (with the role-change lock shared as its first statement when asked)
 * and COMMIT; rolls back when `work` throws. `afterCommit` is written right behind COMMIT (one round
 * trip for both) and only answered once COMMIT succeeded; it runs outside the transaction.
 */
export async function inPipelinedTransaction<T, R>(
  db: ControlDb,
  o: { roleChangeLock: boolean },
  work: (tx: ControlDb) => Promise<T>,
  afterCommit: (db: ControlDb, result: T) => Promise<R>,
): Promise<R> {
  // drizzle keeps the pool it was made with as $client (see controlDb).
  const pool = (db as unknown as { $client?: Partial<pg.Pool> }).$client;
  if (typeof pool?.totalCount !== 'number' || !pool.connect) throw new Error('a pipelined transaction needs the control pool');
  const client = (await (pool as pg.Pool).connect()) as PipelineClient;
  client.pipeline = true;
  const tx = drizzle(client, { schema });
  let broken: Error | undefined;
  try {
    // BEGIN is queued at once; the lock and work's first statements follow it on the wire in the
    // order they are issued (each goes through the same drizzle path to client.query).
    const begun = Promise.all([client.query('BEGIN'), o.roleChangeLock ? holdRoleChangeLock(tx) : undefined]);
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
    const [committed, read] = await Promise.allSettled([client.query('COMMIT'), afterCommit(tx, result)]);
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
