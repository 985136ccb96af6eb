// Graceful stop (SIGTERM from Kubernetes, Ctrl+C): stop taking connections, let the requests in
// flight and the background runs in progress finish, within a grace period. A request cut off
// halfway could leave a password set in the warehouse whose issue the analyst never saw.
import type { Server } from 'node:http';

type Closable = Pick<Server, 'close' | 'closeIdleConnections' | 'closeAllConnections'>;

export interface DrainResult {
  /** Everything finished within the grace period. */
  drained: boolean;
  ms: number;
}

/**
 * Closes `server` (idle keep-alive connections at once, busy ones once their response is sent) and
 * waits for `background` (stop functions that resolve when their run in progress has finished).
 * After `graceMs` the remaining connections are cut and `drained` is false.
 */
export async function drain(server: Closable, background: Array<() => Promise<void>>, graceMs: number): Promise<DrainResult> {
  const started = performance.now();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // A connection whose response was just sent goes idle: close those as they appear, so a
  // keep-alive client cannot hold the drain open.
  server.closeIdleConnections();
  const idleSweep = setInterval(() => server.closeIdleConnections(), 50);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), graceMs);
  });
  const finished = Promise.allSettled([closed, ...background.map((stop) => stop())]).then(() => true as const);
  const drained = await Promise.race([finished, timedOut]);
  clearInterval(idleSweep);
  clearTimeout(timer);
  if (!drained) server.closeAllConnections();
  return { drained, ms: Math.round(performance.now() - started) };
}
