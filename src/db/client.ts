import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import * as schema from './schema.js';

export type ControlDb = NodePgDatabase<typeof schema>;
/** A control-database handle inside or outside a transaction. */
export type ControlTx = Parameters<Parameters<ControlDb['transaction']>[0]>[0] | ControlDb;

export function createPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 5_000 });
  // An idle client that loses its server must not crash the process.
  pool.on('error', () => {});
  return pool;
}

export function controlDb(pool: pg.Pool): ControlDb {
  return drizzle(pool, { schema });
}
