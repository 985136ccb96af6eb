// One sweep run, the same on every runtime: the Node entry runs it on an interval
// (src/node/sweeping.ts), the Workers entry from its cron trigger (src/worker.ts).
import type { PruneResult } from './auth/sessions.js';
import type { SweepResult } from './credentials/lease-sweeper.js';
import type { GrantSweepResult } from './requests/grant-sweeper.js';
import type { Services } from './types.js';

export interface SweepRun {
  /** Credential leases past their expiry. */
  leases: PromiseSettledResult<SweepResult>;
  /** PII grants whose window closed, requests past their review deadline, expiry notices. */
  grants: PromiseSettledResult<GrantSweepResult>;
  /** Session and CLI sign-in rows past their retention, deleted. */
  pruned: PromiseSettledResult<PruneResult>;
  /** The reasons of the sweeps that failed, in the order above. */
  failures: unknown[];
}

/** How many sweeps one run makes (for "n of SWEEPS failed"). */
export const SWEEPS = 3;

/** Runs every sweep; each runs even when another fails. Never rejects: failures are in the result. */
export async function sweepAll(services: Pick<Services, 'sweeper' | 'grantSweeper' | 'sessions'>): Promise<SweepRun> {
  const [leases, grants, pruned] = await Promise.allSettled([services.sweeper.sweep(), services.grantSweeper.sweep(), services.sessions.prune()]);
  const failures = [leases, grants, pruned].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  return { leases, grants, pruned, failures };
}
