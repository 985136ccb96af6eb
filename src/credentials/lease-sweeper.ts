// Ends access whose time is up. VALID UNTIL already refuses new logins at expiry, but it does not
// end sessions that are open: the sweeper disables the role and terminates them, and records it.
// Safe with several gateway instances (rows are claimed with SKIP LOCKED) and after downtime (a
// lease that expired while no sweeper ran is closed at the next run and marked late).
import { LATE_AFTER_MS, lateDetails } from '../audit/late.js';
import { appendAudit } from '../audit/log.js';
import type { ControlDb } from '../db/client.js';
import type { Provisioner } from '../provisioner/provisioner.js';
import { lockExpiredLeases, markLeaseExpired } from './dal.js';

export interface SweepResult {
  expired: number;
  sessionsEnded: number;
}

export class Sweeper {
  constructor(
    private readonly db: ControlDb,
    private readonly provisioner: Provisioner,
    /** A lease closed later than this after its expiry is audited as late. */
    private readonly lateAfterMs = LATE_AFTER_MS,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async sweep(batch = 500): Promise<SweepResult> {
    const result: SweepResult = { expired: 0, sessionsEnded: 0 };
    for (;;) {
      const n = await this.sweepBatch(batch, result);
      if (n < batch) return result;
    }
  }

  private async sweepBatch(batch: number, result: SweepResult): Promise<number> {
    return this.db.transaction(async (tx) => {
      const now = this.now();
      const due = await lockExpiredLeases(tx, now, batch);
      for (const lease of due) {
        // NOLOGIN first, then the sessions: the role cannot reconnect in between.
        const ended = await this.provisioner.revokeIfExists(lease.role);
        result.sessionsEnded += ended;
        await markLeaseExpired(tx, lease.id, now);
        await appendAudit(tx, {
          action: 'credential.expired',
          actor: 'system:sweeper',
          subject: lease.username,
          details: {
            credentialId: lease.id,
            role: lease.role,
            expiresAt: lease.expiresAt.toISOString(),
            sessionsEnded: ended,
            ...lateDetails(now, lease.expiresAt, this.lateAfterMs),
          },
        });
      }
      result.expired += due.length;
      return due.length;
    });
  }
}

