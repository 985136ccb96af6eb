// Both sweepers (credential leases, PII grants) audit an expiry they handled late, the same way.

/** An expiry handled later than this after it came due is audited as late. */
export const LATE_AFTER_MS = 120_000;

/** `{ late: true, lateBySeconds }` when `now` is more than `lateAfterMs` past `dueAt`, else nothing. */
export function lateDetails(now: Date, dueAt: Date, lateAfterMs: number): { late?: true; lateBySeconds?: number } {
  const lateByMs = now.getTime() - dueAt.getTime();
  return lateByMs > lateAfterMs ? { late: true, lateBySeconds: Math.round(lateByMs / 1000) } : {};
}
