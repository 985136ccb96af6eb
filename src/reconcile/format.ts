// The plan as text: SQL a DBA can read (and run), and a short human summary.
import type { ReconcileResult } from './apply.js';
import type { Step } from './plan.js';

export function planSql(steps: Step[]): string {
  return steps.map((s) => `-- ${s.kind}${s.runAs === 'dba' ? ' (needs a DBA)' : ''}${s.afterCommit ? ' (after commit)' : ''}: ${s.reason}\n${s.sql};`).join('\n');
}

export function summary(r: ReconcileResult, applied: boolean): string[] {
  if (r.skipped) {
    const who = r.lockBusy?.holders.map((h) => `pid ${h.pid} (user ${h.user ?? '?'}, application ${JSON.stringify(h.applicationName ?? '')})`).join(', ');
    return [`Another session holds the reconciler's lock${who ? ` (${who})` : ''}: skipped.`];
  }
  const count = (k: Step['kind']) => r.steps.filter((s) => s.kind === k).length;
  const lines = [
    `Policy ${r.version.label}; connected as ${r.executor.user}${r.executor.superuser ? ' (superuser)' : ''}.`,
    r.steps.length === 0
      ? 'The warehouse matches the policy: nothing to do.'
      : `${r.steps.length} step(s): ${count('converge')} converge, ${count('drift')} drift, ${count('leak')} leak.`,
  ];
  if (applied) lines.push(`Applied ${r.applied.length} step(s) in one transaction.`);
  if (r.pending.length > 0) lines.push(`${r.pending.length} step(s) need the table owner or a superuser: run \`npm run reconcile -- --apply --url <DBA URL>\`.`);
  if (!r.leakGuard.ran) lines.push('Leak guard: not run (this connection may not read data; run as a DBA).');
  else if (r.leakGuard.hits.length === 0) lines.push('Leak guard: clean.');
  else {
    lines.push(`Leak guard: ${r.leakGuard.hits.length} hit(s); ${r.withheld.length} pseudonymized grant(s) withheld:`);
    for (const h of r.leakGuard.hits) lines.push(`  - ${h.table}.${h.column}: ${h.rule}${h.pattern ? ` (${h.pattern})` : ''}, e.g. row ${h.rowId ?? '(none)'}`);
  }
  return lines;
}
