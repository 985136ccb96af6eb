import type { Logger } from '../log.js';
import type { Services } from '../types.js';

export const SWEEP_INTERVAL_MS = 30_000;

/**
 * Runs both sweepers (credential leases; PII grants and requests) now and then on an interval;
 * one run at a time per process. Each runs even when the other fails.
 */
export function startSweeping(services: Pick<Services, 'sweeper' | 'grantSweeper'>, logger: Logger, intervalMs: number): NodeJS.Timeout {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      const [leases, grants] = await Promise.allSettled([services.sweeper.sweep(), services.grantSweeper.sweep()]);
      if (leases.status === 'fulfilled' && leases.value.expired > 0) logger.info('sweep', { ...leases.value });
      if (grants.status === 'fulfilled' && Object.values(grants.value).some((n) => n > 0)) logger.info('pii sweep', { ...grants.value });
      for (const r of [leases, grants]) {
        if (r.status === 'rejected') logger.warn('sweep failed; will retry', { error: (r.reason as Error)?.message });
      }
    } finally {
      running = false;
    }
  };
  void run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return timer;
}
