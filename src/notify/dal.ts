// Data access of the webhook outbox: every statement on webhook_outbox, with typed rows. drizzle's
// builder where it can express the query; typed `sql` templates where it cannot (ids drawn in
// order from unnest WITH ORDINALITY; a claim with FOR UPDATE OF ... SKIP LOCKED in a CTE feeding
// UPDATE ... FROM ... RETURNING; a give-up with interval arithmetic on now()). The rules (what is
// sent, when, the lease, the backoff) stay in outbox.ts and dispatcher.ts.
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { ControlDb, ControlTx } from '../db/client.js';
import { pgArray } from '../db/pg-array.js';
import { webhookOutbox } from '../db/schema.js';

/** `now()` plus some milliseconds, in SQL. */
const nowPlus = (ms: number) => sql`now() + ${ms}::double precision * interval '1 millisecond'`;

/**
 * Queues rows in the given order, one per event and JSON body. Each body gets its own row id as
 * `id`, so body and header agree; the ids are drawn in the given order (the subquery with the
 * volatile nextval() is evaluated once per row, not flattened).
 */
export async function insertOutboxRows(tx: ControlTx, events: string[], bodies: string[]): Promise<void> {
  await tx.execute(sql`
    INSERT INTO webhook_outbox (id, event, payload)
    SELECT n.id, n.event, n.body || jsonb_build_object('id', n.id)
      FROM (SELECT nextval(pg_get_serial_sequence('webhook_outbox', 'id')) AS id, e.event, e.body
              FROM (SELECT u.event, u.body
                      FROM unnest(${pgArray(events)}::text[], ${pgArray(bodies)}::jsonb[]) WITH ORDINALITY AS u(event, body, ord)
                     ORDER BY u.ord) e) n`);
}

/** Gives up undelivered rows older than `maxAgeMs` that nobody holds a lease on; how many. */
export async function giveUpStale(db: ControlDb, maxAgeMs: number): Promise<number> {
  const res = await db.execute(sql`
    UPDATE webhook_outbox
    SET failed_at = now(), last_error = 'stale: not delivered within ' || ${Math.round(maxAgeMs / 1000)}::text || ' s'
    WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
      AND created_at < now() - ${maxAgeMs}::double precision * interval '1 millisecond'`);
  return res.rowCount ?? 0;
}

export interface ClaimedRow<P> {
  id: number;
  event: string;
  payload: P;
  /** Attempts so far, this one included. */
  attempts: number;
}

/**
 * Claims up to `limit` due rows, oldest first, skipping rows others hold and rows behind an
 * earlier pending row of the same request; counts the attempt and takes a lease of `leaseMs`.
 */
export async function claimDue<P>(db: ControlDb, limit: number, leaseMs: number): Promise<ClaimedRow<P>[]> {
  const res = await db.execute<{ id: string; event: string; payload: P; attempts: number }>(sql`
    WITH due AS (
      SELECT o.id FROM webhook_outbox o
      WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.next_attempt_at <= now()
        AND NOT EXISTS (
          SELECT 1 FROM webhook_outbox e
          WHERE e.delivered_at IS NULL AND e.failed_at IS NULL AND e.id < o.id
            AND e.payload -> 'requestId' = o.payload -> 'requestId')
      ORDER BY o.id
      LIMIT ${limit}
      FOR UPDATE OF o SKIP LOCKED
    )
    UPDATE webhook_outbox w
    SET attempts = w.attempts + 1,
        next_attempt_at = ${nowPlus(leaseMs)}
    FROM due WHERE w.id = due.id
    RETURNING w.id, w.event, w.payload, w.attempts`);
  return res.rows.map((r) => ({ id: Number(r.id), event: r.event, payload: r.payload, attempts: r.attempts }));
}

export async function markDelivered(db: ControlDb, id: number): Promise<void> {
  await db
    .update(webhookOutbox)
    .set({ deliveredAt: sql`now()`, failedAt: null, lastError: null })
    .where(and(eq(webhookOutbox.id, id), isNull(webhookOutbox.deliveredAt)));
}

/** The row's attempt number fences these: if its lease ran out and another run took the row, that run records. */
const stillOurs = (id: number, attempts: number) =>
  and(eq(webhookOutbox.id, id), eq(webhookOutbox.attempts, attempts), isNull(webhookOutbox.deliveredAt), isNull(webhookOutbox.failedAt));

/** Gives up after the last attempt. */
export async function markFailed(db: ControlDb, id: number, attempts: number, error: string): Promise<void> {
  await db.update(webhookOutbox).set({ failedAt: sql`now()`, lastError: error }).where(stillOurs(id, attempts));
}

/** Records a failed attempt and when to try again. */
export async function scheduleRetry(db: ControlDb, id: number, attempts: number, error: string, delayMs: number): Promise<void> {
  await db.update(webhookOutbox).set({ lastError: error, nextAttemptAt: nowPlus(delayMs) }).where(stillOurs(id, attempts));
}
