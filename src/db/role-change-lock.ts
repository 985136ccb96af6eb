// The gate changes an analyst's warehouse role (LOGIN, password, dataset membership) *before* the
// control row that explains the change commits, so that a failed warehouse change leaves no record
// claiming otherwise. The reconciler compares the two: if it looked between the warehouse change
// and that commit, it would undo a credential just issued or re-grant access just ended.
//
// So every such change holds this lock shared, in the control transaction that records it, taken
// as the transaction's first statement (before any other lock, so no cycle can form); the
// reconciler takes it exclusively while it reads and applies. Changes never wait for each other,
// only for a reconciler run (tens of milliseconds), and the reconciler only ever sees settled state.
import { sql } from 'drizzle-orm';
import type pg from 'pg';
import type { ControlTx } from './client.js';

// Any constant works; it only has to be the same for every gate instance on this control database.
const ROLE_CHANGE_LOCK = 0x46445752; // "FDWR"

/** First statement of a control transaction that changes analyst roles in the warehouse. */
export async function holdRoleChangeLock(tx: ControlTx): Promise<void> {
  await tx.execute(sql`SELECT pg_advisory_xact_lock_shared(${ROLE_CHANGE_LOCK})`);
}

/**
 * The reconciler's side: opens a control transaction holding the lock exclusively (or returns
 * null when `tryOnly` and it is taken). Release it by calling the returned function.
 */
export async function takeRoleChangeLock(pool: pg.Pool, tryOnly: boolean): Promise<(() => Promise<void>) | null> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    if (tryOnly) {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [ROLE_CHANGE_LOCK]);
      if (!rows[0]!.ok) {
        await client.query('ROLLBACK');
        client.release();
        return null;
      }
    } else {
      await client.query('SELECT pg_advisory_xact_lock($1)', [ROLE_CHANGE_LOCK]);
    }
  } catch (err) {
    client.release(err as Error);
    throw err;
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
