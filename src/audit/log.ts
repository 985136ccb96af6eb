import { sql } from 'drizzle-orm';
import type { ControlTx } from '../db/client.js';
import { pgArray } from '../db/pg-array.js';
import { canonicalRowMiddle } from './chain.js';

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
  /** Retention blanked the text of old PII-read statements (their hashes stay). */
  'pii.statements.pruned',
  // PII requests (issue 4): each carries the request id, and the purpose in details.
  'request.created',
  /** One approver's approval; the final one also grants (see pii.granted). */
  'request.approved',
  'request.denied',
  'request.withdrawn',
  /** Nobody decided within the policy's review window. */
  'request.expired',
  /** A decision the rules refused (self-approval, a second vote by the same approver...). */
  'request.refused',
  'pii.granted',
  'pii.revoked',
  // Policy as code (issue 3).
  'policy.applied',
  'drift.found',
  'leak_guard.hit',
  // Security fixes (issue 10).
  /** A gate session ended: sign-out, leaving the FDWG, an admin, or the issuer refusing a refresh. */
  'session.ended',
  /** Scheduled reconciler runs skipped several times in a row because another holder kept its lock. */
  'reconcile.skipped',
  // The analyst's terminal (issue 11).
  /** A gate token minted for a command line (its client name and expiry in details). */
  'token.issued',
  // Authorization in one place (issue 12).
  /**
   * A refused attempt at a recorded action (src/access/rules.ts): the first of its person, action
   * and minute; `details.attempted`, `route`, `reason`; the minute's count is in access_denials.
   */
  'access.denied',
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

/** The stored fields of an event, normalised exactly as they will be hashed and read back. */
function storedFields(event: AuditEvent) {
  const fields = {
    actor: event.actor,
    subject: event.subject ?? null,
    action: event.action,
    requestId: event.requestId ?? null,
    dataset: event.dataset ?? null,
    // Round-trip through JSON now, so the hash covers exactly what jsonb will store (a Date or a
    // toJSON object would otherwise hash differently from what verify reads back).
    details: JSON.parse(JSON.stringify(event.details ?? {})) as Record<string, unknown>,
  };
  return { ...fields, middle: canonicalRowMiddle(fields) };
}

/**
 * Appends one event inside the caller's transaction, so the event exists exactly when the change
 * it records does. The transaction-scoped advisory lock serialises appenders until commit, which
 * keeps the chain linear under concurrency; call this last in the transaction to hold it briefly.
 * Returns the new event's id.
 */
export async function appendAudit(tx: ControlTx, event: AuditEvent): Promise<number> {
  const f = storedFields(event);
  // One round trip: the function takes the chain lock, stamps `at`, links and hashes the row.
  const result = await tx.execute<{ id: string }>(sql`
    SELECT audit_append(${CHAIN_LOCK}, ${f.actor}, ${f.subject}, ${f.action}, ${f.requestId},
                        ${f.dataset}, ${JSON.stringify(f.details)}::jsonb, ${f.middle}) AS id`);
  return Number(result.rows[0]!.id);
}

/** appendAudit for many events at once, in order, in one round trip. Returns their ids. */
export async function appendAuditMany(tx: ControlTx, events: AuditEvent[]): Promise<number[]> {
  if (events.length === 0) return [];
  const fs = events.map(storedFields);
  const col = (pick: (f: (typeof fs)[number]) => string | number | null) => pgArray(fs.map(pick));
  const result = await tx.execute<{ id: string }>(sql`
    SELECT audit_append_many(${CHAIN_LOCK}, ${col((f) => f.actor)}::text[], ${col((f) => f.subject)}::text[],
                             ${col((f) => f.action)}::text[], ${col((f) => f.requestId)}::integer[], ${col((f) => f.dataset)}::text[],
                             ${col((f) => JSON.stringify(f.details))}::jsonb[], ${col((f) => f.middle)}::text[]) AS id`);
  return result.rows.map((r) => Number(r.id));
}
