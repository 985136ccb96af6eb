// Ends PII access whose window has closed, expires requests nobody decided in time, and sends the
// "expiring soon" notice once per grant. Runs on Node on an interval and on Workers from a cron
// trigger. Safe with several instances (rows are claimed with FOR UPDATE SKIP LOCKED, so two
// sweepers never work on the same grant) and after a crash or downtime (whatever came due while
// nothing swept is handled at the next run; an expiry handled late is audited as late).
import type { ControlDb } from '../db/client.js';
import { notifyMany, requestText } from '../notify/outbox.js';
import type { Policy } from '../policy/schema.js';
import type { Provisioner } from '../provisioner/provisioner.js';
import { LATE_AFTER_MS } from '../audit/late.js';
import { claimGrantsToWarn, lockOverdueRequests } from './dal.js';
import { endGrants, lockLiveGrants } from './end-grants.js';
import { endRequests } from './end-requests.js';
import { type PhaseRecorder, timed } from './phases.js';

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

  /** `record` receives the duration of each step of ending expired grants (benches); nothing is measured without it. */
  async sweep(batch = 1000, record?: PhaseRecorder): Promise<GrantSweepResult> {
    const result: GrantSweepResult = { expired: 0, sessionsEnded: 0, requestsExpired: 0, warned: 0 };
    // Grants first: ending access is what matters most if a run is cut short.
    while ((await this.expireGrants(batch, result, record)) === batch);
    while ((await this.expireRequests(batch, result)) === batch);
    while ((await this.warn(batch, result)) === batch);
    return result;
  }

  private async expireGrants(batch: number, result: GrantSweepResult, record?: PhaseRecorder): Promise<number> {
    let bodyDone = 0;
    const n = await this.db.transaction(async (tx) => {
      const now = this.now();
      const due = await timed(record, 'lock', () => lockLiveGrants(tx, { dueBy: now }, { limit: batch, skipLocked: true }));
      result.sessionsEnded += await endGrants(tx, this.provisioner, due, { reason: 'expired', actor: ACTOR, now, lateAfterMs: this.lateAfterMs, record });
      result.expired += due.length;
      bodyDone = performance.now();
      return due.length;
    });
    record?.('commit', performance.now() - bodyDone);
    return n;
  }

  /** Pending requests past their review deadline end as expired, the same way a late decision ends them. */
  private expireRequests(batch: number, result: GrantSweepResult): Promise<number> {
    return this.db.transaction(async (tx) => {
      const now = this.now();
      const due = await lockOverdueRequests(tx, now, batch);
      await endRequests(tx, due, { state: 'expired', by: ACTOR, comment: null, now });
      result.requestsExpired += due.length;
      return due.length;
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
      const due = await claimGrantsToWarn(tx, now, soon, batch);
      const byRequest = new Map<number, { username: string; datasets: string[]; expiresAt: Date }>();
      for (const r of due) {
        const id = r.requestId;
        const entry = byRequest.get(id) ?? { username: r.username, datasets: [], expiresAt: r.expiresAt };
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
      return due.length;
    });
  }
}
