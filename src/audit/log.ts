import { sql } from 'drizzle-orm';
import type { ControlTx } from '../db/client.js';
import { auditEvents } from '../db/schema.js';
import { GENESIS_HASH, rowHash } from './chain.js';

/** Closed list: an action not named here cannot be logged. */
export const auditActions = [
  'login',
  'logout',
  'gate.refused',
  'agreement.accepted',
  'credential.issued',
  'credential.revoked',
  'credential.expired',
  /** A statement that touched a PII table, from pgaudit's log inside PostgreSQL. */
  'pii.read',
] as const;
export type AuditAction = (typeof auditActions)[number];

export interface AuditEvent {
  action: AuditAction;
  /** Username of whoever caused the event, or `system:<component>`. */
  actor: string;
  /** The analyst the event is about. */
  subject?: string | null;
  requestId?: number | null;
  dataset?: string | null;
  details?: Record<string, unknown>;
}

// Any constant works; it only has to be the same for every writer of the chain.
const CHAIN_LOCK = 0x46445747; // "FDWG"

/**
 * Appends one event inside the caller's transaction, so the event exists exactly when the change
 * it records does. The transaction-scoped advisory lock serialises appenders until commit, which
 * keeps the chain linear under concurrency; call this last in the transaction to hold it briefly.
 * Returns the new event's id.
 */
export async function appendAudit(tx: ControlTx, event: AuditEvent): Promise<number> {
  const head = await tx.execute<{ head: string | null }>(sql`SELECT audit_chain_head(${CHAIN_LOCK}) AS head`);
  const fields = {
    at: new Date().toISOString(),
    actor: event.actor,
    subject: event.subject ?? null,
    action: event.action,
    requestId: event.requestId ?? null,
    dataset: event.dataset ?? null,
    // Round-trip through JSON now, so the hash covers exactly what jsonb will store (a Date or a
    // toJSON object would otherwise hash differently from what verify reads back).
    details: JSON.parse(JSON.stringify(event.details ?? {})) as Record<string, unknown>,
    prevHash: head.rows[0]?.head ?? GENESIS_HASH,
  };
  const [row] = await tx
    .insert(auditEvents)
    .values({ ...fields, hash: await rowHash(fields) })
    .returning({ id: auditEvents.id });
  return row!.id;
}
