// Node: the gate reconciles its own roles at start and then on an interval. Several gateway
// instances may run this at once: each run takes a transaction-level advisory lock with
// pg_try_advisory_xact_lock and skips when another instance holds it.
import type { Logger } from '../log.js';
import type { Reconciler } from '../reconcile/service.js';

export function startReconciling(reconciler: Reconciler, logger: Logger, intervalMs: number): NodeJS.Timeout {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      const r = await reconciler.runScheduled();
      if (r.skipped) logger.debug('reconcile skipped: another instance holds the lock');
      else if (r.applied.length > 0 || r.pending.length > 0) {
        logger.info('reconcile', { applied: r.applied.length, pending: r.pending.length, policy: r.version.label });
      }
    } catch (err) {
      logger.warn('reconcile failed; will retry', { error: (err as Error).message });
    } finally {
      running = false;
    }
  };
  void run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return timer;
}
