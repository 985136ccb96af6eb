import type { Logger } from '../log.js';
import type { WebhookDispatcher } from '../notify/dispatcher.js';
import { every } from './every.js';

// Short, so a room hears of a request within seconds; a run with nothing due is one indexed query.
export const NOTIFY_INTERVAL_MS = 5_000;

/** Delivers due webhook notifications now and then on an interval. */
export function startNotifying(dispatcher: WebhookDispatcher, logger: Logger, intervalMs: number): () => Promise<void> {
  return every('webhook delivery run', intervalMs, logger, async () => {
    const r = await dispatcher.deliverDue();
    // Counts only: the URL may carry a token and the payloads are for the receiver.
    if (r.failed > 0 || r.stale > 0) logger.warn('webhook notifications given up', { ...r });
    else if (r.delivered > 0 || r.retried > 0) logger.info('webhook notifications', { ...r });
  });
}
