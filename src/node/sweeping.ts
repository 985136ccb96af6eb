import type { Logger } from '../log.js';
import { sweepAll } from '../sweeps.js';
import type { Services } from '../types.js';
import { every } from './every.js';

export const SWEEP_INTERVAL_MS = 30_000;

/** Runs both sweepers (credential leases; PII grants and requests); each runs even when the other fails. */
export function startSweeping(services: Pick<Services, 'sweeper' | 'grantSweeper'>, logger: Logger, intervalMs: number): () => Promise<void> {
  return every('sweep', intervalMs, logger, async () => {
    const { leases, grants, failures } = await sweepAll(services);
    if (leases.status === 'fulfilled' && leases.value.expired > 0) logger.info('sweep', { ...leases.value });
    if (grants.status === 'fulfilled' && Object.values(grants.value).some((n) => n > 0)) logger.info('pii sweep', { ...grants.value });
    for (const reason of failures) logger.warn('sweeper failed', { error: (reason as Error)?.message });
    // The run counts as failed (metrics); the next tick retries.
    if (failures.length > 0) throw new Error(`${failures.length} of 2 sweepers failed`);
  });
}
