// Where the time of ending grants goes, for the benches (bench/pii-grants.ts prints the breakdown of
// a sweep). Optional everywhere: without a recorder nothing is measured.

/** The steps of ending grants, in the order they run. */
export const endPhases = ['lock', 'revoke', 'terminate', 'wait', 'check', 'mark', 'outbox', 'audit', 'commit'] as const;
export type EndPhase = (typeof endPhases)[number];

/** Called once per step with its wall-clock milliseconds; a step may be reported several times (batches). */
export type PhaseRecorder = (phase: EndPhase, ms: number) => void;

/** Runs `fn`, reporting its duration as `phase` when there is a recorder. */
export async function timed<T>(record: PhaseRecorder | undefined, phase: EndPhase, fn: () => Promise<T>): Promise<T> {
  if (!record) return fn();
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    record(phase, performance.now() - t0);
  }
}
