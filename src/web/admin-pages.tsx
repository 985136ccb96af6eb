import type { ReconcileResult } from '../reconcile/apply.js';
import type { Step } from '../reconcile/plan.js';
import { Layout, type PageContext } from './layout.js';
import { utcSeconds } from '../time.js';

export interface LastApplied {
  id: number;
  /** ISO-8601 UTC. */
  at: string;
  actor: string;
  details: { sha256?: string; steps?: number; pending?: number; leakGuard?: string; as?: string };
}

const KIND_BADGE: Record<Step['kind'], string> = { converge: 'a-cred', drift: 'a-end', leak: 'a-bad' };

function StepsTable(props: { steps: Step[]; pending: Step[]; id: string }) {
  return (
    <div class="tablewrap">
      <table class="log" id={props.id}>
        <thead>
          <tr>
            <th>Kind</th>
            <th>Runs as</th>
            <th>Why</th>
            <th>SQL</th>
          </tr>
        </thead>
        <tbody>
          {props.steps.map((s) => (
            <tr>
              <td>
                <span class={`badge ${KIND_BADGE[s.kind]}`}>{s.kind}</span>
              </td>
              <td class="nowrap">{props.pending.includes(s) ? 'DBA (pending)' : s.afterCommit ? 'gate, after commit' : 'gate'}</td>
              <td>{s.reason}</td>
              <td class="mono">{s.sql}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function AdminPage(ctx: PageContext & { result: ReconcileResult; lastApplied: LastApplied | null; notice?: string }) {
  const r = ctx.result;
  const drift = r.steps.filter((s) => s.kind !== 'converge' && !s.afterCommit);
  const v = r.version;
  return (
    <Layout {...ctx}>
      <h1>Admin</h1>
      {ctx.notice ? (
        <div class="card" role="status">
          <span class="ok">{ctx.notice}</span>
        </div>
      ) : null}
      <div class="card" id="sessions">
        <h2>End someone's sessions</h2>
        <p>Signs a person out of the gate everywhere at once; their next request needs a new sign-in.</p>
        <form method="post" action="/admin/sessions/end">
          <input type="hidden" name="_csrf" value={ctx.csrf ?? ''} />
          <label for="end-username">Username</label> <input id="end-username" name="username" required autocomplete="off" />{' '}
          <button type="submit">End sessions</button>
        </form>
      </div>
      <div class="card" id="policy-version">
        <h2>Policy in force</h2>
        <dl class="kv">
          <dt>Policy file</dt>
          <dd class="mono" title={v.sha256}>
            sha256:{v.sha256}
          </dd>
          <dt>Agreement</dt>
          <dd>version {v.agreement}</dd>
          <dt>Last applied</dt>
          <dd>
            {ctx.lastApplied ? (
              <>
                {utcSeconds(ctx.lastApplied.at)} by {ctx.lastApplied.actor} ({ctx.lastApplied.details.steps ?? 0} step
                {ctx.lastApplied.details.steps === 1 ? '' : 's'}){ctx.lastApplied.details.sha256 !== v.sha256 ? ' — an older policy version' : ''}
              </>
            ) : (
              'never'
            )}
          </dd>
        </dl>
      </div>
      <div class={`card ${drift.length > 0 ? 'warnbox' : 'goodbox'}`} id="drift">
        <h2>Drift ({drift.length})</h2>
        {drift.length === 0 ? (
          <p class="ok">The warehouse grants match the policy and the gate's state.</p>
        ) : (
          <ul>
            {drift.map((s) => (
              <li>{s.reason}</li>
            ))}
          </ul>
        )}
      </div>
      <div class="card" id="plan">
        <h2>Current plan ({r.steps.length} step{r.steps.length === 1 ? '' : 's'})</h2>
        <p class="muted">
          Computed as {r.executor.user}, the gate's own login. It applies the role steps itself at start and every few minutes; steps marked DBA
          (table, schema and default privileges) need <span class="mono">npm run reconcile -- --apply</span> with a DBA URL, which also runs the leak
          guard (the gate may not read data, so it is not run here).
        </p>
        {r.steps.length === 0 ? <p>Nothing to do.</p> : <StepsTable steps={r.steps} pending={r.pending} id="plan-steps" />}
      </div>
    </Layout>
  );
}
