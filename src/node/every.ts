import type { Logger } from '../log.js';

/**
 * Runs `job` now and then every `intervalMs`: never two runs at once in this process (a slow run
 * makes the next tick skip), and a failure is logged and retried at the next tick rather than
 * ending the process. The gate's background work (sweepers, reconciler, webhook delivery, pgaudit
 * ingestion, anchors) all runs this way. Returns a function that stops it and resolves once a run
 * in progress has finished, so the pools can be closed under nothing (a query cut off by shutdown
 * would otherwise surface as an unhandled error).
 */
export type RunObserver = (job: string, outcome: 'ok' | 'failed', seconds: number) => void;

let observer: RunObserver | undefined;

/** Watches every background run of this process (Node's metrics; one observer, set at start). */
export function observeRuns(o: RunObserver | undefined): void {
  observer = o;
}

export function every(what: string, intervalMs: number, logger: Logger, job: () => Promise<void>): () => Promise<void> {
  let current: Promise<void> | null = null;
  const run = () => {
    if (current) return;
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    current = job()
      .then(() => observer?.(what, 'ok', seconds()))
      .catch((err: unknown) => {
        observer?.(what, 'failed', seconds());
        logger.warn(`${what} failed; will retry`, { error: (err as Error).message });
      })
      .finally(() => {
        current = null;
      });
  };
  run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await current;
  };
}
