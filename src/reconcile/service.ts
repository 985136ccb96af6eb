// The reconciler as a service of the app: the admin page plans with it, the Node entry runs it on
// a schedule. Both use the gate's own warehouse login (role steps only; the rest is pending).
import { type ReconcileDeps, type ReconcileResult, reconcile } from './apply.js';

export class Reconciler {
  /** Drift this process has audited already: a pending DBA step is audited once, not every run. */
  private readonly reported = new Set<string>();

  constructor(private readonly deps: ReconcileDeps) {}

  /** What would change now; reads catalogs only, changes nothing, writes no audit. */
  plan(): Promise<ReconcileResult> {
    return reconcile(this.deps);
  }

  /** A scheduled run: applies what the gate may, skips when another instance holds the lock. */
  runScheduled(): Promise<ReconcileResult> {
    return reconcile(this.deps, { apply: true, tryLock: true, reported: this.reported });
  }
}
