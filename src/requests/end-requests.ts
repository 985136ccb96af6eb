// The one way a pending request ends without access, whatever the cause: denied, withdrawn (by the
// analyst, or by the gate for a leaver) or expired (by a decision that came too late, or by the
// sweeper). The rows, the webhook notice and the audit event, inside the caller's transaction.
import { appendAuditMany } from '../audit/log.js';
import type { ControlTx } from '../db/client.js';
import { notifyMany, requestText } from '../notify/outbox.js';
import { type LockedRequest, setDecision } from './dal.js';

/** The `dataset` column of a request-level event: its dataset, or all of them comma-joined. */
export const datasetColumn = (datasets: string[]) => datasets.join(',');

/** Ends the given (locked, pending) requests. */
export async function endRequests(
  tx: ControlTx,
  requests: LockedRequest[],
  o: { state: 'denied' | 'withdrawn' | 'expired'; by: string; comment: string | null; now: Date },
): Promise<void> {
  if (requests.length === 0) return;
  const { state, by, comment } = o;
  await setDecision(
    tx,
    requests.map((r) => r.id),
    { state, at: o.now, by, comment },
  );
  await notifyMany(
    tx,
    requests.map((r) => ({
      event: 'request.decided' as const,
      requestId: r.id,
      analyst: r.username,
      datasets: r.datasets,
      text: requestText({ requestId: r.id, analyst: r.username, datasets: r.datasets }, { event: 'request.decided', decision: state, decidedBy: by, comment }),
      details: { state, decidedBy: by },
    })),
  );
  await appendAuditMany(
    tx,
    requests.map((r) => ({
      action: `request.${state}` as const,
      actor: by,
      subject: r.username,
      requestId: r.id,
      dataset: datasetColumn(r.datasets),
      details: { purpose: r.purpose, ...(comment ? { comment } : {}), ...(state === 'expired' ? { reviewDeadline: r.reviewDeadline.toISOString() } : {}) },
    })),
  );
}
