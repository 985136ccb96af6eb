// The one way a PII grant ends, whatever the cause (expiry, relinquish, early revoke, leaving the
// FDWG): membership revoked and the analyst's sessions terminated in the warehouse (and waited for
// until gone), the rows closed, audited and announced, all inside the caller's control transaction.
// The control writes that need no warehouse answer run meanwhile; the audit (which counts the
// sessions ended) and COMMIT wait for it: if it fails nothing is recorded and the next sweep tries
// again; if the COMMIT fails after it, the grant still looks live and the next sweep repeats a
// harmless REVOKE.
import { holdRoleChangeLock } from '../db/role-change-lock.js';
import { lateDetails } from '../audit/late.js';
import { appendAuditMany } from '../audit/log.js';
import type { ControlTx } from '../db/client.js';
import { notifyMany, requestText } from '../notify/outbox.js';
import { membershipKey, type Provisioner } from '../provisioner/provisioner.js';
import { type GrantRow, markGrantsEnded } from './dal.js';
import { type PhaseRecorder, timed } from './phases.js';

export type { GrantRow } from './dal.js';
export { lockLiveGrants } from './dal.js';

export type EndReason = 'expired' | 'relinquished' | 'revoked' | 'left_group';

export interface EndOptions {
  reason: EndReason;
  /** Username, or `system:<component>`. */
  actor: string;
  now: Date;
  comment?: string | null;
  /** An expiry handled later than this after `expires_at` is audited as late. */
  lateAfterMs?: number;
  /** Receives each step's duration (benches). */
  record?: PhaseRecorder;
}

/** Ends the given (locked, live) grants. Returns the number of analyst sessions terminated. */
export async function endGrants(tx: ControlTx, provisioner: Provisioner, grants: GrantRow[], o: EndOptions): Promise<number> {
  if (grants.length === 0) return 0;
  await timed(o.record, 'lock', () => holdRoleChangeLock(tx));
  // The warehouse work runs beside the control writes that do not depend on it; nothing is recorded
  // before COMMIT, which waits for it (and for the sessions to be gone).
  const warehouse = provisioner.revokeDatasets(grants.map((g) => ({ role: g.roleName, groupRole: g.groupRole })), o.record);
  warehouse.catch(() => {});
  await timed(o.record, 'mark', () => markGrantsEnded(tx, grants.map((g) => g.id), { at: o.now, reason: o.reason, by: o.actor }));
  const byRequest = new Map<number, GrantRow[]>();
  for (const g of grants) byRequest.set(g.requestId, [...(byRequest.get(g.requestId) ?? []), g]);
  await timed(o.record, 'outbox', () => notifyMany(
    tx,
    [...byRequest].map(([requestId, gs]) => {
      const analyst = gs[0]!.username;
      const datasets = gs.map((g) => g.dataset);
      return {
        event: 'access.ended' as const,
        requestId,
        analyst,
        datasets,
        text: requestText({ requestId, analyst, datasets }, { event: 'access.ended', reason: o.reason.replace('_', ' ') }),
        details: { reason: o.reason, endedBy: o.actor },
      };
    }),
  ));
  const { sessions, remaining } = await warehouse;
  // Audit last (it holds the chain lock until COMMIT), all events in one round trip.
  await timed(o.record, 'audit', () => appendAuditMany(tx, grants.map((g) => {
    return {
      action: 'pii.revoked' as const,
      actor: o.actor,
      subject: g.username,
      requestId: g.requestId,
      dataset: g.dataset,
      details: {
        grantId: g.id,
        reason: o.reason,
        role: g.roleName,
        groupRole: g.groupRole,
        expiresAt: g.expiresAt.toISOString(),
        purpose: g.purpose,
        sessionsEnded: sessions.get(g.roleName) ?? 0,
        // The gate's grant is gone, but a membership someone else granted by hand is not: said
        // plainly here, and reported as drift by the reconciler for a DBA to revoke.
        ...(remaining.has(membershipKey(g.roleName, g.groupRole)) ? { membershipRemains: true } : {}),
        ...(o.comment ? { comment: o.comment } : {}),
        ...(o.reason === 'expired' ? lateDetails(o.now, g.expiresAt, o.lateAfterMs ?? Infinity) : {}),
      },
    };
  })));
  return [...sessions.values()].reduce((a, b) => a + b, 0);
}
