// Node: the gate reconciles its own roles at start and then on an interval. Several gateway
// instances may run this at once: a run skips when another instance holds the reconcile lock.
import type { Logger } from '../log.js';
import type { Reconciler } from '../reconcile/service.js';
import { every } from './every.js';

export function startReconciling(reconciler: Reconciler, logger: Logger, intervalMs: number): () => Promise<void> {
  return every('reconcile', intervalMs, logger, async () => {
    const r = await reconciler.runScheduled();
    if (r.skipped) logger.debug('reconcile skipped: another instance holds the lock');
    else if (r.applied.length > 0 || r.pending.length > 0) {
      logger.info('reconcile', { applied: r.applied.length, pending: r.pending.length, policy: r.version.label });
    }
  });
}
