import type { Logger } from '../log.js';
import type { Sweeper } from '../services/sweeper.js';

export const SWEEP_INTERVAL_MS = 30_000;

/** Runs the sweeper now and then on an interval; one run at a time per process. */
export function startSweeping(sweeper: Sweeper, logger: Logger, intervalMs: number): NodeJS.Timeout {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      const r = await sweeper.sweep();
      if (r.expired > 0) logger.info('sweep', { ...r });
    } catch (err) {
      logger.warn('sweep failed; will retry', { error: (err as Error).message });
    } finally {
      running = false;
    }
  };
  void run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return timer;
}
