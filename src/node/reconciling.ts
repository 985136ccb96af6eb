// Node: the gate reconciles its own roles at start and then on an interval. Several gateway
// instances may run this at once: a run skips when another reconciler holds the reconcile lock.
// A skip is a warning (drift waits meanwhile), and several in a row are audited (Reconciler).
import type { Logger } from '../log.js';
import type { Reconciler } from '../reconcile/service.js';
import { every } from './every.js';

export function startReconciling(
  reconciler: Reconciler,
  logger: Logger,
  intervalMs: number,
  observe?: (r: { skipped: boolean; applied: number; pending: number }) => void,
): () => Promise<void> {
  return every('reconcile', intervalMs, logger, async () => {
    const r = await reconciler.runScheduled();
    observe?.({ skipped: r.skipped !== undefined, applied: r.applied.length, pending: r.pending.length });
    if (r.skipped) {
      logger.warn('reconcile skipped: its lock is held by another session', {
        consecutive: r.skippedInARow,
        lock: r.lockBusy?.lock,
        holders: r.lockBusy?.holders,
      });
    } else if (r.applied.length > 0 || r.pending.length > 0) {
      logger.info('reconcile', { applied: r.applied.length, pending: r.pending.length, policy: r.version.label });
    }
  });
}
