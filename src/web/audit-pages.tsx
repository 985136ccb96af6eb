// The auditor pages: the filtered log, one event, a per-analyst timeline, the chain and pgaudit
// status, and a small chart of PII reads and grants. Server-rendered, no script; styles live in the
// layout CSS (the CSP refuses inline style attributes, so the chart uses classes and SVG attributes).
import type { PgauditStatus } from '../audit/pgaudit.js';
import type { AuditRecord, CheckedChainStatus, DailyCount, EventDetail, EventPage, TimelineSummary } from '../audit/query.js';
import { auditActions } from '../audit/log.js';
import { Layout, type PageContext } from './layout.js';

export type RawFilter = Partial<Record<'analyst' | 'actor' | 'action' | 'dataset' | 'request' | 'from' | 'to', string>>;

const utc = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, '').replace(/Z$/, '');
const num = (n: number) => n.toLocaleString('en-US');
const shortHash = (h: string) => `${h.slice(0, 10)}…${h.slice(-6)}`;
const timelineHref = (username: string) => `/audit/analysts/${encodeURIComponent(username)}`;
const isPerson = (name: string | null): name is string => Boolean(name) && !name!.startsWith('system:');

const query = (params: Record<string, string | number | undefined>) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
};

const badgeClass: Record<string, string> = {
  login: '',
  logout: '',
  'agreement.accepted': 'a-ok',
  'credential.issued': 'a-cred',
  'credential.revoked': 'a-end',
  'credential.expired': 'a-end',
  'gate.refused': 'a-bad',
  'access.denied': 'a-bad',
  'request.refused': 'a-bad',
  'alert.raised': 'a-bad',
};

export function ActionBadge(props: { action: string }) {
  const cls = badgeClass[props.action] ?? (props.action.startsWith('pii.') ? 'a-pii' : '');
  return <span class={`badge ${cls}`.trim()}>{props.action}</span>;
}

function value(v: unknown): string {
  if (Array.isArray(v)) return v.map((x) => (x && typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ');
  if (v && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** One line of `key: value` pairs, cut at a readable length (the event page has everything). */
export function detailsSummary(details: Record<string, unknown>, max = 110): string {
  const text = Object.entries(details ?? {})
    .map(([k, v]) => `${k}: ${value(v)}`)
    .join(' · ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function Person(props: { name: string | null }) {
  if (!props.name) return <span class="muted">–</span>;
  return isPerson(props.name) ? <a href={timelineHref(props.name)}>{props.name}</a> : <span class="mono">{props.name}</span>;
}

// --- Shared blocks -------------------------------------------------------------------------------

export function PgauditNotice(props: { status: PgauditStatus }) {
  const s = props.status;
  if (s.available) {
    return (
      <p class="muted" id="pgaudit-status">
        PostgreSQL audit logging: {s.detail}
      </p>
    );
  }
  return (
    <div class="card warnbox" role="alert" id="pgaudit-status">
      <strong>PII reads are not being logged by PostgreSQL.</strong> {s.detail}
    </div>
  );
}

export function ChainStatusCard(props: { chain: CheckedChainStatus }) {
  const c = props.chain;
  const checked = (
    <>
      {num(c.checked)} event{c.checked === 1 ? '' : 's'} checked in {c.seconds.toFixed(2)} s
      <br />
      verified at {utc(c.checkedAt)} UTC
    </>
  );
  if (c.ok) {
    return (
      <div class="card goodbox" id="chain-status" role="status">
        <h2>
          <span class="ok">✓</span> Hash chain intact
        </h2>
        <p class="muted">{checked}</p>
        <p class="muted">
          {c.headId !== null && c.headHash !== null ? (
            <>
              Head: <a href={`/audit/events/${c.headId}`}>event #{c.headId}</a>
              <br />
              hash{' '}
              <span class="mono" title={c.headHash}>
                {shortHash(c.headHash)}
              </span>
            </>
          ) : (
            'The log is empty.'
          )}
        </p>
      </div>
    );
  }
  const b = c.firstBroken;
  return (
    <div class="card badbox" id="chain-status" role="alert">
      <h2>✗ Hash chain broken</h2>
      {b && (
        <p>
          The first break is at <a href={`/audit/events/${b.id}`}>event #{b.id}</a>:{' '}
          {b.reason === 'hash'
            ? 'its stored hash does not match its content (the row was changed).'
            : 'its previous-hash link does not match the event before it (a row was removed or inserted).'}
          <br />
          <span class="muted">
            expected <span class="mono">{b.expected}</span>, found <span class="mono">{b.found}</span>
          </span>
        </p>
      )}
      <p class="muted">{checked}</p>
      <p>Events after the break cannot be trusted until this is explained.</p>
    </div>
  );
}

/** One-click filters an auditor reaches for first. */
function QuickFilters() {
  const today = new Date().toISOString().slice(0, 10);
  const items: [string, Record<string, string>][] = [
    ['PII reads', { action: 'pii.read' }],
    ['Alerts', { action: 'alert.raised' }],
    ['Data-subject reports', { action: 'subject.report' }],
    ['Refused sign-ins', { action: 'gate.refused' }],
    ['Refused access', { action: 'access.denied' }],
    ['Credentials issued', { action: 'credential.issued' }],
    ['Revocations', { action: 'credential.revoked' }],
    ['Today (UTC)', { from: today }],
  ];
  return (
    <nav class="card" aria-labelledby="quick-title">
      <h2 id="quick-title">Quick filters</h2>
      <ul class="chips">
        {items.map(([label, q]) => (
          <li>
            <a href={`/audit${query(q)}`}>
              <span class="badge">{label}</span>
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function EventTable(props: { events: AuditRecord[]; caption: string }) {
  return (
    <div class="tablewrap">
      <table class="log" id="events">
        <caption class="sr-only">{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Time (UTC)</th>
            <th scope="col">Action</th>
            <th scope="col">Actor</th>
            <th scope="col">Subject</th>
            <th scope="col">Request · dataset</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {props.events.map((e) => (
            <tr data-id={String(e.id)}>
              <td>
                <a href={`/audit/events/${e.id}`}>#{e.id}</a>
              </td>
              <td class="t">
                <time datetime={e.at}>{utc(e.at)}</time>
              </td>
              <td>
                <ActionBadge action={e.action} />
              </td>
              <td>
                <Person name={e.actor} />
              </td>
              <td>
                <Person name={e.subject} />
              </td>
              <td>
                {e.requestId === null && !e.dataset ? (
                  <span class="muted">–</span>
                ) : (
                  <>
                    {e.requestId !== null && <a href={`/audit${query({ request: e.requestId })}`}>request #{e.requestId}</a>}
                    {e.requestId !== null && e.dataset && ' · '}
                    {e.dataset && <a href={`/audit${query({ dataset: e.dataset })}`}>{e.dataset}</a>}
                  </>
                )}
              </td>
              <td class="d" title={Object.keys(e.details ?? {}).length ? JSON.stringify(e.details) : undefined}>
                {detailsSummary(e.details)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** "Showing N events …" plus Newer / Older keyset links that keep the filter. */
function Pager(props: { page: EventPage; path: string; keep: Record<string, string | number | undefined> }) {
  const { events, hasNewer, hasOlder } = props.page;
  const first = events[0];
  const last = events.at(-1);
  const newer = hasNewer && first ? `${props.path}${query({ ...props.keep, after: first.id })}` : null;
  const older = hasOlder && last ? `${props.path}${query({ ...props.keep, before: last.id })}` : null;
  return (
    <div class="pager">
      <p class="muted" id="page-summary">
        Showing {num(events.length)} event{events.length === 1 ? '' : 's'}, newest first
        {first && last ? ` (#${first.id} to #${last.id})` : ''}.{' '}
        {hasOlder ? 'More older events match.' : 'No older events match.'}
        {hasNewer ? ' Newer events match too.' : ''}
      </p>
      <nav class="links" aria-label="Pages">
        {hasNewer && (
          <a class="button secondary" href={`${props.path}${query(props.keep)}`}>
            ⇤ Newest
          </a>
        )}
        {newer ? (
          <a class="button secondary" href={newer} rel="prev">
            ← Newer
          </a>
        ) : (
          <span class="button secondary disabled" aria-disabled="true">
            ← Newer
          </span>
        )}
        {older ? (
          <a class="button secondary" href={older} rel="next">
            Older →
          </a>
        ) : (
          <span class="button secondary disabled" aria-disabled="true">
            Older →
          </span>
        )}
      </nav>
    </div>
  );
}

// --- Chart ---------------------------------------------------------------------------------------

const niceMax = (n: number) => {
  if (n <= 4) return Math.max(n, 1);
  const p = 10 ** Math.floor(Math.log10(n));
  return ([1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= n) ?? 10 * p);
};

/** Grouped bars per UTC day, drawn on the server: no script, no library. */
export function PiiChart(props: { counts: DailyCount[] }) {
  const counts = props.counts;
  const W = 720;
  const H = 210;
  const m = { l: 40, r: 8, t: 12, b: 38 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const top = niceMax(Math.max(0, ...counts.map((d) => Math.max(d.reads, d.grants))));
  const ticks = top <= 4 ? Array.from({ length: top + 1 }, (_, i) => i) : [0, top / 2, top].filter((t) => Number.isInteger(t));
  const slot = pw / Math.max(counts.length, 1);
  const bw = Math.max(2, Math.min(10, (slot - 4) / 2));
  const y = (v: number) => m.t + ph - (v / top) * ph;
  const totalReads = counts.reduce((n, d) => n + d.reads, 0);
  const totalGrants = counts.reduce((n, d) => n + d.grants, 0);
  const first = counts[0]?.day ?? '';
  const last = counts.at(-1)?.day ?? '';
  const summary = `From ${first} to ${last} (UTC): ${num(totalReads)} PII read${totalReads === 1 ? '' : 's'} and ${num(totalGrants)} PII grant${totalGrants === 1 ? '' : 's'}.`;
  return (
    <div class="card" id="pii-chart">
      <h2 id="pii-chart-title">PII reads and grants per day, last {counts.length} days</h2>
      <div class="legend" aria-hidden="true">
        <span>
          <i class="k-read"></i>PII reads ({num(totalReads)})
        </span>
        <span>
          <i class="k-grant"></i>PII grants ({num(totalGrants)})
        </span>
      </div>
      <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="pii-chart-title pii-chart-desc" xmlns="http://www.w3.org/2000/svg">
        <desc id="pii-chart-desc">{summary}</desc>
        {ticks.map((t) => (
          <g>
            <line class="grid" x1={m.l} x2={W - m.r} y1={y(t)} y2={y(t)} />
            <text x={m.l - 6} y={y(t) + 4} text-anchor="end">
              {String(t)}
            </text>
          </g>
        ))}
        <line class="axis" x1={m.l} x2={W - m.r} y1={m.t + ph} y2={m.t + ph} />
        <line class="axis" x1={m.l} x2={m.l} y1={m.t} y2={m.t + ph} />
        {counts.map((d, i) => {
          const x0 = m.l + i * slot + (slot - 2 * bw - 1) / 2;
          return (
            <g>
              {d.reads > 0 && (
                <rect class="s-read" x={x0} y={y(d.reads)} width={bw} height={m.t + ph - y(d.reads)}>
                  <title>{`${d.day}: ${d.reads} PII read${d.reads === 1 ? '' : 's'}`}</title>
                </rect>
              )}
              {d.grants > 0 && (
                <rect class="s-grant" x={x0 + bw + 1} y={y(d.grants)} width={bw} height={m.t + ph - y(d.grants)}>
                  <title>{`${d.day}: ${d.grants} PII grant${d.grants === 1 ? '' : 's'}`}</title>
                </rect>
              )}
              {(i % 5 === 0 || i === counts.length - 1) && (
                <text x={m.l + i * slot + slot / 2} y={m.t + ph + 15} text-anchor="middle">
                  {d.day.slice(5)}
                </text>
              )}
            </g>
          );
        })}
        <text x={m.l + pw / 2} y={H - 4} text-anchor="middle">
          day (UTC, month-day)
        </text>
        <text x={12} y={m.t + ph / 2} text-anchor="middle" transform={`rotate(-90 12 ${m.t + ph / 2})`}>
          events
        </text>
      </svg>
      <p class="muted">{summary}</p>
      <details>
        <summary>The numbers per day</summary>
        <table class="counts mt">
          <thead>
            <tr>
              <th scope="col">Day (UTC)</th>
              <th scope="col">PII reads</th>
              <th scope="col">PII grants</th>
            </tr>
          </thead>
          <tbody>
            {counts.map((d) => (
              <tr>
                <td>{d.day}</td>
                <td>{String(d.reads)}</td>
                <td>{String(d.grants)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </div>
  );
}

// --- Pages ---------------------------------------------------------------------------------------

function FilterForm(props: { raw: RawFilter; limit: number }) {
  const r = props.raw;
  const field = (name: keyof RawFilter, label: string, placeholder: string, type = 'text') => (
    <label>
      {label}
      <input type={type} name={name} value={r[name] ?? ''} placeholder={placeholder} autocomplete="off" />
    </label>
  );
  return (
    <form method="get" action="/audit" class="card" id="filters" aria-label="Filter the access log">
      <h2>Filter</h2>
      <div class="filters">
        {field('analyst', 'Analyst (subject)', 'e.g. alice')}
        {field('actor', 'Actor', 'e.g. bob or system:sweeper')}
        <label>
          Action
          <select name="action">
            <option value="">any action</option>
            {auditActions.map((a) => (
              <option value={a} selected={r.action === a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        {field('dataset', 'Dataset', 'e.g. pii.users')}
        {field('request', 'Request #', 'e.g. 12')}
        {field('from', 'From (UTC)', '2026-11-01T08:00')}
        {field('to', 'To (UTC)', '2026-11-30')}
        <label>
          Per page
          <select name="limit">
            {[25, 50, 100, 200].map((n) => (
              <option value={String(n)} selected={n === props.limit}>
                {String(n)}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div class="row mt">
        <button type="submit">Apply filters</button>
        <a class="button secondary" href="/audit">
          Clear
        </a>
      </div>
    </form>
  );
}

export interface AuditListProps {
  pgaudit: PgauditStatus;
  chain: CheckedChainStatus;
  counts: DailyCount[];
  page: EventPage;
  raw: RawFilter;
  limit: number;
}

export function AuditListPage(ctx: PageContext & AuditListProps) {
  const filtered = Object.keys(ctx.raw).length > 0;
  const keep = { ...ctx.raw, limit: ctx.limit === 50 ? undefined : ctx.limit };
  const exportQuery = query(ctx.raw);
  return (
    <Layout {...ctx}>
      <h1>Access log</h1>
      <PgauditNotice status={ctx.pgaudit} />
      <p>
        <a href="/audit/subjects" id="subject-report-link">
          Data-subject report
        </a>
        : who could and who did read one person's PII.
      </p>
      <div class="overview">
        <div>
          <ChainStatusCard chain={ctx.chain} />
          <QuickFilters />
        </div>
        <PiiChart counts={ctx.counts} />
      </div>
      <FilterForm raw={ctx.raw} limit={ctx.limit} />
      <section class="card" aria-labelledby="results-title">
        <div class="row" id="results-head">
          <h2 id="results-title">{filtered ? 'Matching events' : 'All events'}</h2>
          <span class="muted">Export {filtered ? 'the filtered set' : 'everything'}:</span>
          <a class="button secondary small" href={`/audit/export.csv${exportQuery}`} id="export-csv">
            CSV
          </a>
          <a class="button secondary small" href={`/audit/export.jsonl${exportQuery}`} id="export-jsonl">
            JSON Lines
          </a>
        </div>
        {ctx.page.events.length === 0 ? (
          <div class="mt" id="empty">
            <p>
              <strong>No events {filtered ? 'match these filters' : 'in the log yet'}.</strong>
            </p>
            {filtered && (
              <p class="muted">
                Widen the time range or <a href="/audit">clear the filters</a>.
              </p>
            )}
          </div>
        ) : (
          <EventTable events={ctx.page.events} caption="Access log events, newest first" />
        )}
        <Pager page={ctx.page} path="/audit" keep={keep} />
      </section>
    </Layout>
  );
}

export function EventPageView(ctx: PageContext & { detail: EventDetail; pgaudit: PgauditStatus }) {
  const { event: e, statement, denials, previousId, nextId } = ctx.detail;
  return (
    <Layout {...ctx}>
      <PgauditNotice status={ctx.pgaudit} />
      <div class="card">
        <p class="muted">
          <a href="/audit">Access log</a> › event #{e.id}
        </p>
        <h1>
          Event #{e.id} <ActionBadge action={e.action} />
        </h1>
        <dl class="kv" id="event">
          <dt>Time</dt>
          <dd>
            <time datetime={e.at}>{utc(e.at)} UTC</time>
          </dd>
          <dt>Action</dt>
          <dd>{e.action}</dd>
          <dt>Actor</dt>
          <dd>
            <Person name={e.actor} />
          </dd>
          <dt>Subject</dt>
          <dd>
            <Person name={e.subject} />
            {isPerson(e.subject) && (
              <span class="muted">
                {' '}
                (<a href={timelineHref(e.subject)}>timeline</a>)
              </span>
            )}
          </dd>
          <dt>Request</dt>
          <dd>{e.requestId === null ? <span class="muted">–</span> : <a href={`/audit${query({ request: e.requestId })}`}>#{e.requestId}</a>}</dd>
          <dt>Dataset</dt>
          <dd>{e.dataset ? <a href={`/audit${query({ dataset: e.dataset })}`}>{e.dataset}</a> : <span class="muted">–</span>}</dd>
          <dt>Hash</dt>
          <dd class="mono">{e.hash}</dd>
          <dt>Previous hash</dt>
          <dd class="mono">{e.prevHash}</dd>
        </dl>
        <h2 class="mt">Details</h2>
        <pre id="event-details">{JSON.stringify(e.details, null, 2)}</pre>
        {e.action === 'alert.raised' && typeof e.details.readEventId === 'number' && (
          <p id="alert-read">
            The statement this alert is about: <a href={`/audit/events/${e.details.readEventId}`}>event #{e.details.readEventId}</a>.
          </p>
        )}
      </div>
      {denials && (
        <div class="card" id="denial-count">
          <h2>Refusals in this minute</h2>
          <p>
            <strong>{denials.count}</strong> refused {denials.count === 1 ? 'attempt' : 'attempts'} by {e.actor} at this action in the minute of
            this event, the last at {utc(denials.lastAt)} UTC. Only the first is an event on the chain; the count is kept beside it.
          </p>
        </div>
      )}
      {statement && (
        <div class="card" id="pii-statement">
          <h2>Statement</h2>
          {statement.pruned ? (
            <p>
              <strong>Pruned</strong>
              {statement.prunedAt ? ` on ${utc(statement.prunedAt)} UTC` : ''} by retention. Its SHA-256 stays in the log:{' '}
              <span class="mono">{statement.sha256}</span>
            </p>
          ) : (
            <>
              <pre>{statement.text ?? ''}</pre>
              <p class="muted mt">
                SHA-256 <span class="mono">{statement.sha256}</span>
              </p>
            </>
          )}
        </div>
      )}
      <nav class="pager" aria-label="Neighbouring events">
        {previousId !== null ? <a href={`/audit/events/${previousId}`}>← Event #{previousId}</a> : <span class="muted">First event</span>}
        <a href="/audit">Back to the log</a>
        {nextId !== null ? <a href={`/audit/events/${nextId}`}>Event #{nextId} →</a> : <span class="muted">Latest event</span>}
      </nav>
    </Layout>
  );
}

export function TimelinePage(
  ctx: PageContext & { username: string; summary: TimelineSummary; page: EventPage; pgaudit: PgauditStatus; raw: RawFilter; limit: number },
) {
  const s = ctx.summary;
  const path = timelineHref(ctx.username);
  return (
    <Layout {...ctx}>
      <PgauditNotice status={ctx.pgaudit} />
      <div class="card">
        <p class="muted">
          <a href="/audit">Access log</a> › timeline
        </p>
        <h1>Timeline of {ctx.username}</h1>
        <p class="muted">Everything {ctx.username} did, and everything done to their access, newest first.</p>
        {s.total === 0 ? (
          <p id="empty">
            <strong>No events by or about {ctx.username}.</strong>
          </p>
        ) : (
          <>
            <div class="stats" id="timeline-stats">
              <div>
                <strong>{num(s.total)}</strong>
                <span>events</span>
              </div>
              <div>
                <strong>{s.first ? utc(s.first).slice(0, 16) : '–'}</strong>
                <span>first (UTC)</span>
              </div>
              <div>
                <strong>{s.last ? utc(s.last).slice(0, 16) : '–'}</strong>
                <span>latest (UTC)</span>
              </div>
            </div>
            <ul class="chips" aria-label="Events by action">
              {s.byAction.map((a) => (
                <li>
                  <a href={`/audit${query({ analyst: ctx.username, action: a.action })}`} class="nowrap">
                    <ActionBadge action={a.action} /> × {num(a.count)}
                  </a>
                </li>
              ))}
            </ul>
            <p class="muted mt">
              Only events about {ctx.username}: <a href={`/audit${query({ analyst: ctx.username })}`}>filter the log</a> ·{' '}
              <a href={`/audit/export.csv${query({ analyst: ctx.username })}`}>CSV</a> ·{' '}
              <a href={`/audit/export.jsonl${query({ analyst: ctx.username })}`}>JSON Lines</a>
            </p>
          </>
        )}
      </div>
      {s.total > 0 && (
        <section class="card" aria-label={`Events by or about ${ctx.username}`}>
          {Object.keys(ctx.raw).length > 0 && (
            <p class="muted">
              Narrowed to{' '}
              {Object.entries(ctx.raw)
                .map(([k, v]) => `${k} = ${v}`)
                .join(', ')}{' '}
              · <a href={path}>show all</a>
            </p>
          )}
          {ctx.page.events.length > 0 ? (
            <EventTable events={ctx.page.events} caption={`Events by or about ${ctx.username}, newest first`} />
          ) : (
            <p id="empty">
              <strong>No events on this page.</strong>
            </p>
          )}
          <Pager page={ctx.page} path={path} keep={{ ...ctx.raw, limit: ctx.limit === 50 ? undefined : ctx.limit }} />
        </section>
      )}
    </Layout>
  );
}
