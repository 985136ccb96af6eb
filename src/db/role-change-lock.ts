// The gate changes an analyst's warehouse role (LOGIN, password, dataset membership) *before* the
// control row that explains the change commits, so that a failed warehouse change leaves no record
// claiming otherwise. The reconciler compares the two: if it looked between the warehouse change
// and that commit, it would undo a credential just issued or re-grant access just ended.
//
// So every such change holds this lock shared, in the control transaction that records it, taken
// as the transaction's first statement (before any other lock, so no cycle can form); the
// reconciler takes it exclusively while it reads and applies. Changes never wait for each other,
// only for a reconciler run (tens of milliseconds), and the reconciler only ever sees settled state.
//
// Both of the reconciler's locks live in the control database, never in the warehouse: advisory
// lock keys are shared by every session of a database, and every analyst can connect to the
// warehouse, so a key there (even one not shown anywhere, like the former `hashtext(...)` key) is a
// key an analyst can hold for as long as she likes. Analysts have no CONNECT on the control database.
import { sql } from 'drizzle-orm';
import type pg from 'pg';
import type { ControlDb, ControlTx } from './client.js';
import { inPipelinedTransaction } from './pipelined-tx.js';

// Any constants work; they only have to be the same for every gate instance on this control database.
export const ROLE_CHANGE_LOCK = 0x46445752; // "FDWR"
/** One reconciler at a time (scheduled runs of every instance, the admin page's plan excepted, the DBA CLI). */
export const RECONCILE_LOCK = 0x46445743; // "FDWC"

/** First statement of a control transaction that changes analyst roles in the warehouse. */
export async function holdRoleChangeLock(tx: ControlTx): Promise<void> {
  await tx.execute(sql.raw(takeRoleChangeLockShared));
}

/** The role-change lock, shared: sent with BEGIN as a transaction's first statement. */
export const takeRoleChangeLockShared = `SELECT pg_advisory_xact_lock_shared(${ROLE_CHANGE_LOCK})`;

/**
 * Runs `work` in a pipelined control transaction (src/db/pipelined-tx.ts) whose first statement
 * takes the role-change lock shared, sent with BEGIN: the lock and the statements `work` issues
 * without awaiting each other cost one round trip. Commits when `work` resolves and rolls back when
 * it throws.
 */
export function inRoleChangeTransaction<T>(db: ControlDb, work: (tx: ControlDb) => Promise<T>): Promise<T> {
  return inPipelinedTransaction(db, { afterBegin: takeRoleChangeLockShared }, work);
}

/** A session holding a lock someone waited for, as far as pg_locks and pg_stat_activity show it. */
export interface LockHolder {
  pid: number;
  /** The login; visible to every role. */
  user: string | null;
  /** Visible to every role; the reconciler sets it to say what it is doing. */
  applicationName: string | null;
  mode: string;
}

/** The lock stayed taken: by another reconciler (`reconcile`) or by gate changes in flight (`role-change`). */
export class LockBusyError extends Error {
  constructor(
    readonly lock: 'reconcile' | 'role-change',
    readonly holders: LockHolder[],
    readonly waitedMs: number,
  ) {
    const who = holders.length === 0
      ? 'its holder is gone or not visible'
      : `held by ${holders.map((h) => `pid ${h.pid} (user ${h.user ?? '?'}, application ${JSON.stringify(h.applicationName ?? '')})`).join(', ')}`;
    super(
      `waited ${waitedMs / 1000} s for the ${lock === 'reconcile' ? "reconciler's lock" : 'role-change lock (gate changes in flight)'}; ${who}`,
    );
    this.name = 'LockBusyError';
  }
}

export interface ReconcilerLockOptions {
  /** Apply runs take the reconcile lock too; a plan only needs settled state. */
  apply: boolean;
  /** Give up at once when another reconciler holds the reconcile lock (scheduled runs). */
  tryOnly?: boolean;
  /** The longest wait for either lock before LockBusyError. */
  waitMs: number;
  /** Shown as this session's application_name while it holds the locks (who holds it, for others). */
  label: string;
}

async function holders(client: pg.PoolClient, key: number): Promise<LockHolder[]> {
  const { rows } = await client.query<LockHolder>(
    `SELECT l.pid, a.usename AS "user", a.application_name AS "applicationName", l.mode
       FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = 0 AND l.objid = $1::bigint::oid AND l.objsubid = 1
      ORDER BY l.pid`,
    [key],
  );
  return rows;
}

/**
 * The reconciler's side: opens a control transaction holding the reconcile lock (apply runs) and
 * the role-change lock exclusively. Each wait is bounded by `waitMs` (lock_timeout), and a lock that
 * stays taken raises LockBusyError naming its holders. Release by calling the returned function.
 */
export async function takeReconcilerLocks(pool: pg.Pool, o: ReconcilerLockOptions): Promise<() => Promise<void>> {
  const client = await pool.connect();
  let step: 'reconcile' | 'role-change' = 'reconcile';
  try {
    await client.query('BEGIN');
    await client.query(`SELECT set_config('application_name', $1, true), set_config('lock_timeout', $2, true)`, [
      o.label.slice(0, 63),
      `${Math.max(1, Math.round(o.waitMs))}ms`,
    ]);
    if (o.apply) {
      if (o.tryOnly) {
        const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [RECONCILE_LOCK]);
        if (!rows[0]!.ok) throw Object.assign(new Error('reconcile lock taken'), { code: '55P03' });
      } else {
        await client.query('SELECT pg_advisory_xact_lock($1)', [RECONCILE_LOCK]);
      }
    }
    step = 'role-change';
    await client.query('SELECT pg_advisory_xact_lock($1)', [ROLE_CHANGE_LOCK]);
  } catch (err) {
    if ((err as { code?: string }).code !== '55P03') {
      client.release(err as Error);
      throw err;
    }
    try {
      await client.query('ROLLBACK');
      const who = await holders(client, step === 'reconcile' ? RECONCILE_LOCK : ROLE_CHANGE_LOCK);
      client.release();
      throw new LockBusyError(step, who, o.tryOnly && step === 'reconcile' ? 0 : o.waitMs);
    } catch (busy) {
      if (busy instanceof LockBusyError) throw busy;
      client.release(busy as Error);
      throw busy;
    }
  }
  return async () => {
    try {
      await client.query('COMMIT');
      client.release();
    } catch (err) {
      client.release(err as Error);
    }
  };
}
