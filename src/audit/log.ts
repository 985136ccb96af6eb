import type { ControlTx } from '../db/client.js';
import { canonicalRowMiddle } from './chain.js';
import { type StoredEvent, insertEvent, insertEvents } from './dal.js';

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
  /**
   * A decision the rules refused (self-approval, a second vote), as written before issue 12: such
   * refusals are `access.denied` now. Kept so that older chains still render and auditors can
   * still filter on it.
   */
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
  // Building the tiers from Datanommer (issue 17).
  /** A pseudonym key made for a period (`details.period`, `rotation`) or destroyed (`details.retired`). */
  'pseudonyms.rotated',
  // Data-subject reports and alerts (issue 15).
  /** An auditor asked for a data-subject report: the person is `subject`, the stated reason in details. */
  'subject.report',
  /** A policy alert rule hit an ingested PII statement: `details.rule`, `details.readEventId`. */
  'alert.raised',
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

/** The stored fields of an event, normalised exactly as they will be hashed and read back. */
function storedFields(event: AuditEvent): StoredEvent {
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
  return insertEvent(tx, storedFields(event));
}

/** appendAudit for many events at once, in order, in one round trip. Returns their ids. */
export async function appendAuditMany(tx: ControlTx, events: AuditEvent[]): Promise<number[]> {
  if (events.length === 0) return [];
  return insertEvents(tx, events.map(storedFields));
}
