// The data-subject report's running totals of pii.read events (migration 0012: pii_read_rollup,
// pii_read_request_spans). Derived data: audit_events stays the record, and these tables can be
// rebuilt from it at any time. Whoever appends pii.read events adds them here in the same
// transaction (the pgaudit ingestion, the demo seed); a bulk load rebuilds.
import { sql } from 'drizzle-orm';
import type { ControlDb, ControlTx } from '../db/client.js';
import { pgArray } from '../db/pg-array.js';

/** Counts the pii.read events among `eventIds` (other actions are ignored). */
export async function addToReadRollups(tx: ControlTx, eventIds: number[]): Promise<void> {
  if (eventIds.length) await tx.execute(sql`SELECT pii_read_rollup_add(${pgArray(eventIds)}::bigint[])`);
}

/** Recomputes the totals from audit_events (after a bulk load, or to repair). */
export async function rebuildReadRollups(db: ControlDb): Promise<void> {
  await db.execute(sql`SELECT pii_read_rollup_rebuild()`);
}
