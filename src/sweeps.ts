// One sweep run, the same on every runtime: the Node entry runs it on an interval
// (src/node/sweeping.ts), the Workers entry from its cron trigger (src/worker.ts).
import type { SweepResult } from './credentials/lease-sweeper.js';
import type { GrantSweepResult } from './requests/grant-sweeper.js';
import type { Services } from './types.js';

export interface SweepRun {
  /** Credential leases past their expiry. */
  leases: PromiseSettledResult<SweepResult>;
  /** PII grants whose window closed, requests past their review deadline, expiry notices. */
  grants: PromiseSettledResult<GrantSweepResult>;
  /** The reasons of the sweeps that failed, in the order above. */
  failures: unknown[];
}

/** Runs both sweepers; each runs even when the other fails. Never rejects: failures are in the result. */
export async function sweepAll(services: Pick<Services, 'sweeper' | 'grantSweeper'>): Promise<SweepRun> {
  const [leases, grants] = await Promise.allSettled([services.sweeper.sweep(), services.grantSweeper.sweep()]);
  const failures = [leases, grants].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  return { leases, grants, failures };
}
