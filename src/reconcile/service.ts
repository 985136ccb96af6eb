// The reconciler as a service of the app: the admin page plans with it, the Node entry runs it on
// a schedule. Both use the gate's own warehouse login (role steps only; the rest is pending).
import { appendAudit } from '../audit/log.js';
import { controlDb } from '../db/client.js';
import { type ReconcileDeps, type ReconcileResult, reconcile } from './apply.js';

export interface ReconcilerOptions {
  /** Scheduled runs skipped this many times in a row are an audited alert (`reconcile.skipped`). Default 3. */
  skipAlertAfter?: number;
  /** See ReconcileOptions.lockWaitMs. */
  lockWaitMs?: number;
}

export class Reconciler {
  /** Drift this process has audited already: a pending DBA step is audited once, not every run. */
  private readonly reported = new Set<string>();
  private skippedInARow = 0;

  constructor(
    private readonly deps: ReconcileDeps,
    private readonly options: ReconcilerOptions = {},
  ) {}

  /** What would change now; reads catalogs only, changes nothing, writes no audit. */
  plan(): Promise<ReconcileResult> {
    return reconcile(this.deps, { lockWaitMs: this.options.lockWaitMs });
  }

  /**
   * A scheduled run: applies what the gate may, skips when another reconciler holds the lock. A skip
   * is normal once in a while (another instance's run, a DBA's); several in a row mean something
   * holds the lock and drift goes unrepaired meanwhile, so the run that makes it `skipAlertAfter` in
   * a row is audited, and again each time the streak doubles (3, 6, 12...: an alert, not a flood).
   */
  async runScheduled(): Promise<ReconcileResult> {
    const r = await reconcile(this.deps, { apply: true, tryLock: true, reported: this.reported, lockWaitMs: this.options.lockWaitMs });
    if (!r.skipped) {
      this.skippedInARow = 0;
      return r;
    }
    const n = ++this.skippedInARow;
    r.skippedInARow = n;
    const after = this.options.skipAlertAfter ?? 3;
    const streak = n / after;
    if (Number.isInteger(streak) && (streak & (streak - 1)) === 0) {
      await controlDb(this.deps.control).transaction((tx) =>
        appendAudit(tx, {
          action: 'reconcile.skipped',
          actor: 'system:reconciler',
          details: { consecutive: n, lock: r.lockBusy?.lock, holders: r.lockBusy?.holders ?? [] },
        }),
      );
    }
    return r;
  }
}
