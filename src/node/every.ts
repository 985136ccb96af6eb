import type { Logger } from '../log.js';

/**
 * Runs `job` now and then every `intervalMs`: never two runs at once in this process (a slow run
 * makes the next tick skip), and a failure is logged and retried at the next tick rather than
 * ending the process. The gate's background work (sweepers, reconciler, webhook delivery, pgaudit
 * ingestion, anchors) all runs this way. Returns a function that stops it.
 */
export function every(what: string, intervalMs: number, logger: Logger, job: () => Promise<void>): () => void {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      await job();
    } catch (err) {
      logger.warn(`${what} failed; will retry`, { error: (err as Error).message });
    } finally {
      running = false;
    }
  };
  void run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
