// Pages of the PII tier: an analyst's requests (ask, withdraw, relinquish) and the approvers'
// queue (decide, revoke early). Server-rendered, no script.
import { humanDuration } from '../notify/outbox.js';
import type { PiiDataset } from '../policy/schema.js';
import type { Approvals, GrantView, QueueItem, RequestView } from '../requests/service.js';
import { Layout, type PageContext } from './layout.js';
import { utcSeconds } from '../time.js';

/** Durations an analyst can pick; the longest any dataset allows bounds the list. */
const DURATIONS = [3600, 8 * 3600, 86_400, 3 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400];

function StateBadge(props: { state: string }) {
  return <span class={`state state-${props.state}`}>{props.state}</span>;
}

function Notice(props: { text?: string }) {
  return props.text ? (
    <div class="card" role="status">
      <span class="ok">{props.text}</span>
    </div>
  ) : null;
}

function GrantLine(props: { g: GrantView }) {
  const g = props.g;
  return g.live ? (
    <span>
      <code>{g.dataset}</code> readable until <time datetime={g.expiresAt.toISOString()}>{utcSeconds(g.expiresAt)}</time>
    </span>
  ) : (
    <span class="muted">
      <code>{g.dataset}</code> ended {g.endedAt ? utcSeconds(g.endedAt) : ''} ({g.endReason?.replace('_', ' ')}
      {g.endedBy && !g.endedBy.startsWith('system:') ? ` by ${g.endedBy}` : ''})
    </span>
  );
}

function Decision(props: { r: RequestView }) {
  const r = props.r;
  if (r.state === 'pending') {
    return (
      <span>
        {r.approvals} of {r.approvalsRequired} approval{r.approvalsRequired === 1 ? '' : 's'}; review by {utcSeconds(r.reviewDeadline)}
      </span>
    );
  }
  return (
    <span>
      {r.decidedBy?.startsWith('system:') ? (r.state === 'expired' ? 'nobody decided in time' : r.decisionComment ?? '') : `by ${r.decidedBy}`}
      {r.decidedAt ? `, ${utcSeconds(r.decidedAt)}` : ''}
      {r.decisionComment && !r.decidedBy?.startsWith('system:') ? `: “${r.decisionComment}”` : ''}
    </span>
  );
}

export function RequestsPage(ctx: PageContext & { datasets: PiiDataset[]; requests: RequestView[]; admitted: boolean; notice?: string }) {
  const longest = Math.max(...ctx.datasets.map((d) => d.max_duration));
  const durations = DURATIONS.filter((d) => d <= longest);
  const minPurpose = Math.min(...ctx.datasets.map((d) => d.min_purpose_length));
  return (
    <Layout {...ctx} wide>
      <Notice text={ctx.notice} />
      <div class="card">
        <h1>PII datasets</h1>
        {ctx.admitted ? (
          <form method="post" action="/requests" aria-label="Request PII access">
            <input type="hidden" name="_csrf" value={ctx.csrf ?? ''} />
            <fieldset>
              <legend>Datasets</legend>
              {ctx.datasets.map((d) => (
                <label class="dataset">
                  <input type="checkbox" name="datasets[]" value={d.name} />
                  <span>
                    <strong>{d.name}</strong>
                    <br />
                    {d.description}
                    <br />
                    <span class="muted">
                      Tables: {d.tables.join(', ')} · at most {humanDuration(d.max_duration)} · {d.approvals_required} approval
                      {d.approvals_required === 1 ? '' : 's'} · purpose of at least {d.min_purpose_length} characters
                    </span>
                  </span>
                </label>
              ))}
            </fieldset>
            <div class="stack">
              <label for="purpose">Purpose: what you will do with the data, and why the pseudonymized tier is not enough</label>
              <textarea id="purpose" name="purpose" required minlength={minPurpose} maxlength={4000}></textarea>
            </div>
            <div class="row mt">
              <label>
                Duration
                <select name="durationSeconds">
                  {durations.map((d) => (
                    <option value={String(d)} selected={d === 86_400}>
                      {humanDuration(d)}
                    </option>
                  ))}
                </select>
              </label>
              <button type="submit">Send request</button>
            </div>
          </form>
        ) : (
          <p class="muted">Only admitted FDWG members (agreement accepted) can request PII access.</p>
        )}
      </div>
      <div class="card">
        <h2>Your requests</h2>
        {ctx.requests.length === 0 ? (
          <p class="muted">You have not requested anything yet.</p>
        ) : (
          <div class="tablewrap">
            <table class="log" id="my-requests">
              <thead>
                <tr>
                  <th scope="col">Request</th>
                  <th scope="col">Datasets</th>
                  <th scope="col">Purpose</th>
                  <th scope="col">Duration</th>
                  <th scope="col">State</th>
                  <th scope="col">Decision</th>
                  <th scope="col">Access</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {ctx.requests.map((r) => (
                  <tr data-request={String(r.id)}>
                    <td>#{r.id}</td>
                    <td>{r.datasets.join(', ')}</td>
                    <td class="d">{r.purpose}</td>
                    <td class="nowrap">{humanDuration(r.durationSeconds)}</td>
                    <td>
                      <StateBadge state={r.state} />
                    </td>
                    <td>
                      <Decision r={r} />
                    </td>
                    <td>
                      {r.grants.map((g) => (
                        <div>
                          <GrantLine g={g} />
                        </div>
                      ))}
                    </td>
                    <td>
                      {r.state === 'pending' && (
                        <form method="post" action={`/requests/${r.id}/withdraw`}>
                          <input type="hidden" name="_csrf" value={ctx.csrf ?? ''} />
                          <button class="secondary small" type="submit" aria-label={`Withdraw request #${r.id}`}>
                            Withdraw
                          </button>
                        </form>
                      )}
                      {r.grants.some((g) => g.live) && (
                        <form method="post" action={`/requests/${r.id}/relinquish`}>
                          <input type="hidden" name="_csrf" value={ctx.csrf ?? ''} />
                          <button class="danger small" type="submit" aria-label={`Relinquish access from request #${r.id}`}>
                            Relinquish
                          </button>
                        </form>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </Layout>
  );
}

function QueueCard(props: { item: QueueItem; datasets: PiiDataset[]; csrf?: string }) {
  const r = props.item;
  const tables = (name: string) => props.datasets.find((d) => d.name === name)?.tables.join(', ') ?? '(no longer in the policy)';
  return (
    <section class="card request" aria-labelledby={`req-${r.id}`} data-request={String(r.id)}>
      <h2>
        <span id={`req-${r.id}`}>
          Request #{r.id} by {r.analyst}
        </span>
        <span class="muted">
          {r.approvals} of {r.approvalsRequired} approval{r.approvalsRequired === 1 ? '' : 's'}
        </span>
      </h2>
      <dl class="kv">
        <dt>Datasets</dt>
        <dd>
          {r.datasets.map((d) => (
            <div>
              <code>{d}</code> <span class="muted">({tables(d)})</span>
            </div>
          ))}
        </dd>
        <dt>Purpose</dt>
        <dd>
          <blockquote>{r.purpose}</blockquote>
        </dd>
        <dt>Duration</dt>
        <dd>{humanDuration(r.durationSeconds)}</dd>
        <dt>Asked</dt>
        <dd>
          {utcSeconds(r.createdAt)}; expires undecided at {utcSeconds(r.reviewDeadline)}
        </dd>
        {r.reviews.length > 0 && (
          <>
            <dt>Reviews</dt>
            <dd>
              {r.reviews.map((v) => (
                <div>
                  {v.reviewer} {v.decision === 'approve' ? 'approved' : 'denied'} {utcSeconds(v.at)}
                  {v.comment ? `: “${v.comment}”` : ''}
                </div>
              ))}
            </dd>
          </>
        )}
        <dt>Past requests</dt>
        <dd class="history">
          {r.history.length === 0 ? (
            <span class="muted">none</span>
          ) : (
            <ul>
              {r.history.map((h) => (
                <li>
                  #{h.id} {h.datasets.join(', ')}, {humanDuration(h.durationSeconds)}: <StateBadge state={h.state} /> ({utcSeconds(h.createdAt)}) “{h.purpose.slice(0, 120)}
                  {h.purpose.length > 120 ? '…' : ''}”
                </li>
              ))}
            </ul>
          )}
        </dd>
      </dl>
      {r.decidable ? (
        <form method="post" action={`/approvals/${r.id}`} class="mt" aria-label={`Decide request #${r.id}`}>
          <input type="hidden" name="_csrf" value={props.csrf ?? ''} />
          <div class="stack">
            <label for={`comment-${r.id}`}>Comment (sent to the analyst)</label>
            <textarea id={`comment-${r.id}`} name="comment" maxlength={2000}></textarea>
          </div>
          <div class="row mt">
            <button type="submit" name="decision" value="approve" aria-label={`Approve request #${r.id}`}>
              Approve
            </button>
            <button class="danger" type="submit" name="decision" value="deny" aria-label={`Deny request #${r.id}`}>
              Deny
            </button>
          </div>
        </form>
      ) : (
        <p class="muted mt">{r.whyNot}</p>
      )}
    </section>
  );
}

export function ApprovalsPage(ctx: PageContext & { queue: Approvals; datasets: PiiDataset[]; approver: boolean; notice?: string }) {
  const { queue } = ctx;
  return (
    <Layout {...ctx} wide>
      <Notice text={ctx.notice} />
      <h1>Approvals</h1>
      {ctx.approver &&
        (queue.pending.length === 0 ? (
          <div class="card">
            <p class="muted" id="queue-empty">
              No pending requests.
            </p>
          </div>
        ) : (
          queue.pending.map((item) => <QueueCard item={item} datasets={ctx.datasets} csrf={ctx.csrf} />)
        ))}
      <div class="card">
        <h2>Live PII access</h2>
        {queue.liveGrants.length === 0 ? (
          <p class="muted">Nobody has PII access right now.</p>
        ) : (
          <div class="tablewrap">
            <table class="log" id="live-grants">
              <thead>
                <tr>
                  <th scope="col">Grant</th>
                  <th scope="col">Analyst</th>
                  <th scope="col">Dataset</th>
                  <th scope="col">Request</th>
                  <th scope="col">Until</th>
                  <th scope="col">Revoke now</th>
                </tr>
              </thead>
              <tbody>
                {queue.liveGrants.map((g) => (
                  <tr data-grant={String(g.id)}>
                    <td>#{g.id}</td>
                    <td>{g.analyst}</td>
                    <td>
                      <code>{g.dataset}</code>
                    </td>
                    <td>#{g.requestId}</td>
                    <td class="t">{utcSeconds(g.expiresAt)}</td>
                    <td>
                      <form method="post" action={`/grants/${g.id}/revoke`} class="row">
                        <input type="hidden" name="_csrf" value={ctx.csrf ?? ''} />
                        <input type="text" name="comment" maxlength={2000} placeholder="reason" aria-label={`Reason for revoking grant #${g.id}`} />
                        <button class="danger small" type="submit" aria-label={`Revoke grant #${g.id}`}>
                          Revoke
                        </button>
                      </form>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </Layout>
  );
}
