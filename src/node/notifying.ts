import type { Logger } from '../log.js';
import type { WebhookDispatcher } from '../notify/dispatcher.js';

// Short, so a room hears of a request within seconds; a run with nothing due is one indexed query.
export const NOTIFY_INTERVAL_MS = 5_000;

/** Delivers due webhook notifications now and then on an interval; one run at a time per process. */
export function startNotifying(dispatcher: WebhookDispatcher, logger: Logger, intervalMs: number): NodeJS.Timeout {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      const r = await dispatcher.deliverDue();
      // Counts only: the URL may carry a token and the payloads are for the receiver.
      if (r.failed > 0 || r.stale > 0) logger.warn('webhook notifications given up', { ...r });
      else if (r.delivered > 0 || r.retried > 0) logger.info('webhook notifications', { ...r });
    } catch (err) {
      logger.warn('webhook delivery run failed; will retry', { error: (err as Error).message });
    } finally {
      running = false;
    }
  };
  void run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return timer;
}
