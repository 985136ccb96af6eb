// Data access of refusals on the record: every statement on access_denials, with typed rows
// (drizzle's builder). The rules (which refusal is an event, what it says) stay in denials.ts.
import { and, eq, sql } from 'drizzle-orm';
import type { ControlTx } from '../db/client.js';
import { accessDenials, piiRequests } from '../db/schema.js';

/** The minute of the transaction's start, as PostgreSQL truncates it (the key of a person's refusals). */
const thisMinute = sql`date_trunc('minute', now())`;

/**
 * Counts one refusal of `actor` and `action` in this minute. The row lock taken here makes a
 * concurrent refusal of the same minute wait for the caller's commit. The count so far (this one
 * included), the minute's event if one is recorded, and the minute (ISO-8601 UTC, to the minute).
 */
export async function countRefusal(tx: ControlTx, actor: string, action: string): Promise<{ count: number; eventId: number | null; minute: string }> {
  const [row] = await tx
    .insert(accessDenials)
    .values({ actor, action, minute: thisMinute, count: 1, lastAt: sql`now()` })
    .onConflictDoUpdate({
      target: [accessDenials.actor, accessDenials.action, accessDenials.minute],
      set: { count: sql`${accessDenials.count} + 1`, lastAt: sql`now()` },
    })
    .returning({
      count: accessDenials.count,
      eventId: accessDenials.eventId,
      minute: sql<string>`to_char(${accessDenials.minute} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"')`,
    });
  return row!;
}

/** Links this minute's refusals of `actor` and `action` to the event that records the first. */
export async function linkRefusalEvent(tx: ControlTx, actor: string, action: string, eventId: number): Promise<void> {
  await tx
    .update(accessDenials)
    .set({ eventId })
    .where(and(eq(accessDenials.actor, actor), eq(accessDenials.action, action), eq(accessDenials.minute, thisMinute)));
}

/** Whether a PII request with this id exists. */
export async function requestExists(tx: ControlTx, id: number): Promise<boolean> {
  const rows = await tx.select({ id: piiRequests.id }).from(piiRequests).where(eq(piiRequests.id, id));
  return rows.length > 0;
}
