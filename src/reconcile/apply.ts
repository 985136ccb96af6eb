// Runs the reconciler: inspect under a lock, plan, optionally apply in one warehouse transaction,
// then record what was found and done in the audit log. Runtime-agnostic (pg Pool only).
//
// Who runs what: the gate's login applies the `gate` steps (roles, LOGIN, memberships) on start
// and on a schedule; a superuser (the DBA's `npm run reconcile -- --apply`) applies every step,
// including table/schema/database/default privileges, and only it runs the leak guard (the gate
// cannot read data). Steps the connection cannot run are reported as pending, never attempted.
import type pg from 'pg';
import { newestEventOf } from '../audit/dal.js';
import { appendAudit, appendAuditMany } from '../audit/log.js';
import { controlDb } from '../db/client.js';
import { type LockHolder, LockBusyError, takeReconcilerLocks } from '../db/role-change-lock.js';
import type { Policy } from '../policy/schema.js';
import { type PolicyVersion, policyVersion } from '../policy/version.js';
import { recordPasswordsSql } from '../provisioner/bootstrap.js';
import { managedRoles } from '../provisioner/roles.js';
import { revokeLeasesOfRoles } from './dal.js';
import { pseudonymizedTableMatcher, readGateState } from './desired.js';
import { inspectWarehouse } from './inspect.js';
import { type LeakHit, runLeakGuard } from './leak-guard.js';
import { type Step, planReconcile } from './plan.js';

export interface ReconcileDeps {
  policy: Policy;
  prefix: string;
  /** The warehouse: as the gate (scheduled runs, admin page) or as a superuser (the DBA CLI). */
  warehouse: pg.Pool;
  control: pg.Pool;
}

export interface ReconcileOptions {
  apply?: boolean;
  /** Scheduled runs: skip (rather than queue) when another reconciler holds the lock. */
  tryLock?: boolean;
  /**
   * The longest wait for the reconciler's locks (both in the control database, out of analysts'
   * reach): another reconciler's run, gate changes in flight. Then a run fails (LockBusyError, naming
   * the holders), or skips with tryLock. Default 30 s.
   */
  lockWaitMs?: number;
  /** Audit actor; default system:reconciler. */
  actor?: string;
  /** Drift already audited by this process (scheduled runs): not audited again. Updated in place. */
  reported?: Set<string>;
  /** Run the leak guard (default: when the connection can read data, i.e. a superuser). */
  leakGuard?: boolean;
}

export interface ReconcileResult {
  version: PolicyVersion;
  executor: { user: string; superuser: boolean };
  /** The whole plan, in order. */
  steps: Step[];
  applied: Step[];
  /** Steps this connection may not run (needs a DBA). */
  pending: Step[];
  /** Pseudonymized-tier grants held back because the leak guard found something. */
  withheld: Step[];
  leakGuard: { ran: boolean; hits: LeakHit[] };
  /** Another reconciler held the lock (tryLock only): nothing was read or done. */
  skipped?: 'locked';
  /** With `skipped`: which lock stayed taken and who held it, as far as pg_locks shows. */
  lockBusy?: { lock: LockBusyError['lock']; holders: LockHolder[] };
  /** Scheduled runs (Reconciler): how many runs in a row skipped, this one included. */
  skippedInARow?: number;
}

export const DEFAULT_LOCK_WAIT_MS = 30_000;

export const isDrift = (s: Step) => s.kind !== 'converge' && !s.afterCommit;

/** The statements to run, in order, with runs of mergeable steps (same head and tail) joined. */
export function mergedStatements(steps: Step[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < steps.length; ) {
    const m = steps[i]!.merge;
    let j = i + 1;
    if (m) while (j < steps.length && steps[j]!.merge?.head === m.head && steps[j]!.merge?.tail === m.tail) j++;
    out.push(m && j - i > 1 ? `${m.head}${steps.slice(i, j).map((s) => s.merge!.item).join(', ')}${m.tail}` : steps[i]!.sql);
    i = j;
  }
  return out;
}

export async function reconcile(deps: ReconcileDeps, opts: ReconcileOptions = {}): Promise<ReconcileResult> {
  const { policy, prefix } = deps;
  const version = await policyVersion(policy);
  const gateRole = managedRoles(prefix).gate;
  const governed = [...policy.tiers.pseudonymized.schemas, ...policy.tiers.pii.schemas];
  const actor = opts.actor ?? 'system:reconciler';
  // One reconciler at a time, and in-flight gate changes (a credential issued, a PII grant approved
  // or ended) finish first and none starts until this run is done: the two states read below are
  // settled. Both locks are in the control database, where analysts cannot connect.
  let releaseLocks: () => Promise<void>;
  try {
    releaseLocks = await takeReconcilerLocks(deps.control, {
      apply: opts.apply === true,
      tryOnly: opts.tryLock,
      waitMs: opts.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS,
      label: `fdwg-access-gate reconciler ${actor}`,
    });
  } catch (err) {
    if (!(opts.tryLock && err instanceof LockBusyError)) throw err;
    const none: Step[] = [];
    return {
      version,
      executor: { user: '', superuser: false },
      steps: none,
      applied: none,
      pending: none,
      withheld: none,
      leakGuard: { ran: false, hits: [] },
      skipped: 'locked',
      lockBusy: { lock: err.lock, holders: err.holders },
    };
  }
  let client: pg.PoolClient | null = null;
  let open = false;
  try {
    client = await deps.warehouse.connect();
    await client.query(opts.apply ? 'BEGIN' : 'BEGIN READ ONLY');
    open = true;
    const warehouse = await inspectWarehouse(client, prefix, governed);
    const gate = await readGateState(controlDb(deps.control));
    const executor = { user: warehouse.currentUser, superuser: warehouse.superuser };
    if (!executor.superuser && executor.user !== gateRole) {
      throw new Error(`the reconciler connects as ${gateRole} or as a superuser, not as ${executor.user}`);
    }
    const runLeak = opts.leakGuard ?? executor.superuser;
    const isPseudo = pseudonymizedTableMatcher(policy);
    const hits = runLeak
      ? await runLeakGuard(client, policy, warehouse.tables.filter((t) => isPseudo(t.schema, t.name)).map((t) => `${t.schema}.${t.name}`))
      : [];
    const leakTables = new Set(hits.map((h) => h.table));
    const steps = planReconcile({ policy, prefix, warehouse, gate, leakTables });
    const withheld = hits.length > 0 ? steps.filter((s) => s.pseudonymizedGrant) : [];
    const canRun = (s: Step) => executor.superuser || s.runAs === 'gate';
    const pending = steps.filter((s) => !canRun(s) && !withheld.includes(s));
    const runnable = steps.filter((s) => canRun(s) && !withheld.includes(s));
    const result: ReconcileResult = { version, executor, steps, applied: [], pending, withheld, leakGuard: { ran: runLeak, hits } };
    if (!opts.apply) {
      await client.query('ROLLBACK');
      open = false;
      return result;
    }
    for (const statement of mergedStatements(runnable.filter((x) => !x.afterCommit))) await client.query(statement);
    // Passwords set since the last run and still in place (nobody recorded them: the gate's issue
    // records its own right away) are taken as the gate's from now on; a later change is drift.
    const unrecorded = [...(warehouse.passwords ?? [])]
      .filter(([role, state]) => state === 'unrecorded' && gate.analysts.some((a) => a.role === role && a.liveCredential) && warehouse.roles.get(role)?.login)
      .map(([role]) => role);
    if (unrecorded.length > 0) await client.query(recordPasswordsSql(prefix), [unrecorded]);
    const drift = steps.filter(isDrift).filter((s) => !opts.reported?.has(s.sql));
    const newHits = hits.filter((h) => !opts.reported?.has(`leak:${h.table}.${h.column}:${h.rule}`));
    const applied = runnable;
    // A password the analyst set herself ended her lease too: the gate no longer vouches for it.
    const passwordDrift = applied.filter((s) => s.details.drift === 'password_not_set_by_gate').map((s) => s.details.role as string);
    const db = controlDb(deps.control);
    // The audit rows commit only if the warehouse COMMIT succeeded (it runs inside this transaction).
    await db.transaction(async (tx) => {
      await revokeLeasesOfRoles(tx, passwordDrift, 'password changed outside the gate');
      await appendAuditMany(tx, [
        ...drift.map((s) => ({
          action: 'drift.found' as const,
          actor,
          subject: s.subject ?? null,
          details: { ...s.details, kind: s.kind, reason: s.reason, runAs: s.runAs, repaired: applied.includes(s), withheld: withheld.includes(s) },
        })),
        ...newHits.map((h) => ({
          action: 'leak_guard.hit' as const,
          actor,
          details: { table: h.table, column: h.column, rule: h.rule, rowId: h.rowId, ...(h.pattern ? { pattern: h.pattern } : {}) },
        })),
      ]);
      const lastSha = (await newestEventOf<{ sha256?: string }>(tx, 'policy.applied'))?.details.sha256;
      if (applied.length > 0 || lastSha !== version.sha256) {
        await appendAudit(tx, {
          action: 'policy.applied',
          actor,
          details: {
            sha256: version.sha256,
            agreementVersion: version.agreement,
            steps: applied.length,
            pending: pending.length,
            withheld: withheld.length,
            leakGuard: runLeak ? (hits.length > 0 ? 'hits' : 'clean') : 'not run',
            as: executor.superuser ? 'superuser' : 'gate',
          },
        });
      }
      await client!.query('COMMIT');
      open = false;
    });
    for (const s of drift) opts.reported?.add(s.sql);
    for (const h of newHits) opts.reported?.add(`leak:${h.table}.${h.column}:${h.rule}`);
    // NOLOGIN and REVOKE are committed: now end the sessions that still hold the old rights.
    for (const s of runnable.filter((x) => x.afterCommit)) await client.query(s.sql);
    result.applied = applied;
    return result;
  } finally {
    if (open) await client?.query('ROLLBACK').catch(() => {});
    client?.release();
    await releaseLocks();
  }
}
