import type { Logger } from '../log.js';
import { SWEEPS, sweepAll } from '../sweeps.js';
import type { Services } from '../types.js';
import { every } from './every.js';

export const SWEEP_INTERVAL_MS = 30_000;

/** Runs the sweeps (credential leases; PII grants and requests; old sign-in rows); each runs even when another fails. */
export function startSweeping(services: Pick<Services, 'sweeper' | 'grantSweeper' | 'sessions'>, logger: Logger, intervalMs: number): () => Promise<void> {
  return every('sweep', intervalMs, logger, async () => {
    const { leases, grants, pruned, failures } = await sweepAll(services);
    if (leases.status === 'fulfilled' && leases.value.expired > 0) logger.info('sweep', { ...leases.value });
    if (grants.status === 'fulfilled' && Object.values(grants.value).some((n) => n > 0)) logger.info('pii sweep', { ...grants.value });
    if (pruned.status === 'fulfilled' && Object.values(pruned.value).some((n) => n > 0)) logger.info('sign-in rows pruned', { ...pruned.value });
    for (const reason of failures) logger.warn('sweeper failed', { error: (reason as Error)?.message });
    // The run counts as failed (metrics); the next tick retries.
    if (failures.length > 0) throw new Error(`${failures.length} of ${SWEEPS} sweepers failed`);
  });
}
