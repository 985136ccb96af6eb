// Ends PII access whose window has closed, expires requests nobody decided in time, and sends the
// "expiring soon" notice once per grant. Runs on Node on an interval and on Workers from a cron
// trigger. Safe with several instances (rows are claimed with FOR UPDATE SKIP LOCKED, so two
// sweepers never work on the same grant) and after a crash or downtime (whatever came due while
// nothing swept is handled at the next run; an expiry handled late is audited as late).
import { sql } from 'drizzle-orm';
import type { ControlDb } from '../db/client.js';
import { notifyMany, requestText } from '../notify/outbox.js';
import type { Policy } from '../policy/schema.js';
import type { Provisioner } from '../provisioner/provisioner.js';
import { LATE_AFTER_MS } from '../audit/late.js';
import { appendAuditMany } from '../audit/log.js';
import { endGrants, lockLiveGrants } from './end-grants.js';
import { datasetColumn } from './service.js';

export interface GrantSweepResult {
  /** Grants whose window closed and were revoked. */
  expired: number;
  /** Analyst sessions terminated with them. */
  sessionsEnded: number;
  /** Pending requests past their review deadline. */
  requestsExpired: number;
  /** "Expiring soon" notices queued. */
  warned: number;
}

const ACTOR = 'system:sweeper';

export class GrantSweeper {
  constructor(
    private readonly db: ControlDb,
    private readonly provisioner: Provisioner,
    private readonly policy: Pick<Policy, 'requests'>,
    /** An expiry handled later than this after `expires_at` is audited as late. */
    private readonly lateAfterMs = LATE_AFTER_MS,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async sweep(batch = 1000): Promise<GrantSweepResult> {
    const result: GrantSweepResult = { expired: 0, sessionsEnded: 0, requestsExpired: 0, warned: 0 };
    // Grants first: ending access is what matters most if a run is cut short.
    while ((await this.expireGrants(batch, result)) === batch);
    while ((await this.expireRequests(batch, result)) === batch);
    while ((await this.warn(batch, result)) === batch);
    return result;
  }

  private expireGrants(batch: number, result: GrantSweepResult): Promise<number> {
    return this.db.transaction(async (tx) => {
      const now = this.now();
      const due = await lockLiveGrants(tx, sql`g.expires_at <= ${now.toISOString()}`, { limit: batch, skipLocked: true });
      result.sessionsEnded += await endGrants(tx, this.provisioner, due, { reason: 'expired', actor: ACTOR, now, lateAfterMs: this.lateAfterMs });
      result.expired += due.length;
      return due.length;
    });
  }

  private expireRequests(batch: number, result: GrantSweepResult): Promise<number> {
    return this.db.transaction(async (tx) => {
      const now = this.now();
      const due = await tx.execute<{ id: number; username: string; datasets: string[]; purpose: string; review_deadline: Date }>(sql`
        UPDATE pii_requests r SET state = 'expired', decided_at = ${now.toISOString()}, decided_by = ${ACTOR}
          FROM analysts a
         WHERE a.id = r.analyst_id AND r.id IN (
               SELECT id FROM pii_requests WHERE state = 'pending' AND review_deadline <= ${now.toISOString()}
                ORDER BY review_deadline LIMIT ${batch} FOR UPDATE SKIP LOCKED)
        RETURNING r.id, a.username, r.datasets, r.purpose, r.review_deadline`);
      await notifyMany(
        tx,
        due.rows.map((r) => {
          const requestId = Number(r.id);
          return {
            event: 'request.decided' as const,
            requestId,
            analyst: r.username,
            datasets: r.datasets,
            text: requestText({ requestId, analyst: r.username, datasets: r.datasets }, { event: 'request.decided', decision: 'expired' }),
            details: { state: 'expired', decidedBy: ACTOR },
          };
        }),
      );
      await appendAuditMany(
        tx,
        due.rows.map((r) => ({
          action: 'request.expired' as const,
          actor: ACTOR,
          subject: r.username,
          requestId: Number(r.id),
          dataset: datasetColumn(r.datasets),
          details: { purpose: r.purpose, reviewDeadline: new Date(r.review_deadline).toISOString() },
        })),
      );
      result.requestsExpired += due.rows.length;
      return due.rows.length;
    });
  }

  /**
   * One notice per grant, when its end is within `expiring_soon`. Grants no longer than that
   * window are not warned about: their whole life is "expiring soon".
   */
  private warn(batch: number, result: GrantSweepResult): Promise<number> {
    return this.db.transaction(async (tx) => {
      const now = this.now();
      const soon = this.policy.requests.expiring_soon;
      const due = await tx.execute<{ request_id: number; username: string; dataset: string; expires_at: Date }>(sql`
        UPDATE pii_grants g SET warned_at = ${now.toISOString()}
          FROM analysts a
         WHERE a.id = g.analyst_id AND g.id IN (
               SELECT id FROM pii_grants
                WHERE ended_at IS NULL AND warned_at IS NULL
                  AND expires_at > ${now.toISOString()}
                  AND expires_at <= ${now.toISOString()}::timestamptz + make_interval(secs => ${soon})
                  AND expires_at - starts_at > make_interval(secs => ${soon})
                ORDER BY expires_at LIMIT ${batch} FOR UPDATE SKIP LOCKED)
        RETURNING g.request_id, a.username, g.dataset, g.expires_at`);
      const byRequest = new Map<number, { username: string; datasets: string[]; expiresAt: Date }>();
      for (const r of due.rows) {
        const id = Number(r.request_id);
        const entry = byRequest.get(id) ?? { username: r.username, datasets: [], expiresAt: new Date(r.expires_at) };
        entry.datasets.push(r.dataset);
        byRequest.set(id, entry);
      }
      await notifyMany(
        tx,
        [...byRequest].map(([requestId, e]) => ({
          event: 'grant.expiring_soon' as const,
          requestId,
          analyst: e.username,
          datasets: e.datasets,
          text: requestText({ requestId, analyst: e.username, datasets: e.datasets }, { event: 'grant.expiring_soon', expiresAt: e.expiresAt }),
          details: { expiresAt: e.expiresAt.toISOString() },
        })),
      );
      result.warned += byRequest.size;
      return due.rows.length;
    });
  }
}
