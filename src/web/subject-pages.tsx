// The data-subject report as a page: a form (who, which window, why) and the report itself,
// laid out to be printed (a print stylesheet drops the header and the forms) and linked to its
// JSON export. Server-rendered, no script.
import type { SubjectReport } from '../subjects/service.js';
import type { ReadRow } from '../subjects/dal.js';
import { Layout, type PageContext } from './layout.js';

const utc = (iso: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, '').replace(/Z$/, '') : '–');
const num = (n: number) => n.toLocaleString('en-US');
const day = (iso: string) => iso.slice(0, 10);

export interface SubjectFormValues {
  username?: string;
  from?: string;
  to?: string;
  reason?: string;
}

export function SubjectForm(props: { values: SubjectFormValues }) {
  const v = props.values;
  return (
    <form method="get" action="/audit/subjects" class="card noprint" id="subject-form">
      <h2>Data-subject report</h2>
      <p class="muted">
        Who could read a person's PII, and who did: for a subject access request (GDPR Art. 15). Each report is recorded on the access log
        with your reason, and shows on the person's timeline.
      </p>
      <div class="grid">
        <label>
          Fedora username
          <input name="username" required maxlength={200} value={v.username ?? ''} autocomplete="off" />
        </label>
        <label>
          From (UTC; default a year ago)
          <input name="from" type="date" value={v.from ?? ''} />
        </label>
        <label>
          To (UTC; default now)
          <input name="to" type="date" value={v.to ?? ''} />
        </label>
      </div>
      <label>
        Reason (recorded with the report)
        <input name="reason" required minlength={10} maxlength={500} value={v.reason ?? ''} />
      </label>
      <div class="row mt">
        <button type="submit">Show the report</button>
      </div>
    </form>
  );
}

export function SubjectFormPage(ctx: PageContext & { values: SubjectFormValues }) {
  return (
    <Layout {...ctx}>
      <h1>Data-subject report</h1>
      <SubjectForm values={ctx.values} />
    </Layout>
  );
}

function Statement(props: { read: ReadRow }) {
  const r = props.read;
  if (r.statement === null) return <span class="muted">text pruned by retention (SHA-256 {r.statementSha256?.slice(0, 12) ?? '–'}…)</span>;
  return <pre class="stmt">{r.statement}</pre>;
}

function ReadsTable(props: { reads: ReadRow[]; id: string; caption: string }) {
  if (props.reads.length === 0) return <p class="muted">None.</p>;
  return (
    <div class="tablewrap">
      <table class="log" id={props.id}>
        <caption class="sr-only">{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Logged (UTC)</th>
            <th scope="col">Reader</th>
            <th scope="col">Tables</th>
            <th scope="col">Request · purpose</th>
            <th scope="col">Names the person</th>
            <th scope="col">Statement</th>
          </tr>
        </thead>
        <tbody>
          {props.reads.map((r) => (
            <tr class={r.namesSubject ? 'names' : ''}>
              <td>
                <a href={`/audit/events/${r.eventId}`}>#{r.eventId}</a>
              </td>
              <td class="t">{utc(r.loggedAt ?? r.at)}</td>
              <td>
                {r.analyst ?? <span class="mono">{r.role}</span>}
                {r.outsideGrant && <span class="badge a-bad">no request in force</span>}
              </td>
              <td class="mono">{r.objects.join(', ')}</td>
              <td>{r.requestId ? <>#{r.requestId} · {r.purpose}</> : <span class="muted">–</span>}</td>
              <td>{r.namesSubject === null ? <span class="muted">no text</span> : r.namesSubject ? <strong>yes</strong> : 'no'}</td>
              <td class="d">
                <Statement read={r} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const printCss = `@media print{header,.demo,.noprint,nav{display:none!important}body{background:#fff}.card{border:0;box-shadow:none}}
pre.stmt{white-space:pre-wrap;margin:0;font-size:.8rem}tr.names{background:#fff4ce}`;

export function SubjectReportPage(ctx: PageContext & { report: SubjectReport; values: SubjectFormValues; jsonHref: string }) {
  const r = ctx.report;
  const p = r.presence;
  return (
    <Layout {...ctx}>
      <style nonce={ctx.nonce}>{printCss}</style>
      <h1>Data-subject report: {r.username}</h1>
      <p class="muted" id="report-meta">
        Window {utc(r.window.from)} to {utc(r.window.to)} UTC · asked by {r.requestedBy} at {utc(r.generatedAt)} UTC · reason: “{r.reason}” ·
        recorded as <a href={`/audit/events/${r.reportEventId}`}>event #{r.reportEventId}</a>
      </p>
      <p class="noprint">
        <a class="button secondary small" href={ctx.jsonHref} id="export-json">
          JSON
        </a>{' '}
        <span class="muted">Print this page for a paper copy (the header and forms are left out).</span>
      </p>

      <section class="card" id="presence">
        <h2>Where the person appears</h2>
        {p.checked ? (
          p.tables.length === 0 ? (
            <p>
              <strong>No PII rows about “{r.username}”</strong> in the warehouse.
            </p>
          ) : (
            <>
              <p>
                Pseudonym{p.pseudonyms.length === 1 ? '' : 's'}: <span class="mono">{p.pseudonyms.join(', ') || '–'}</span>
              </p>
              <table class="counts">
                <thead>
                  <tr>
                    <th>PII table</th>
                    <th>Rows about them</th>
                  </tr>
                </thead>
                <tbody>
                  {p.tables.map((t) => (
                    <tr>
                      <td class="mono">{t.table}</td>
                      <td>{num(t.rows)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <p class="muted">Datasets holding them: {r.datasets.join(', ') || '–'} (counts only; no value is read).</p>
            </>
          )
        ) : (
          <div class="warnbox" role="alert">
            {p.detail} Every PII dataset is listed below as possibly holding their rows.
          </div>
        )}
      </section>

      <section class="card" id="grants">
        <h2>Who could read them: grants of {r.datasets.join(', ') || 'no dataset'}</h2>
        {r.grants.length === 0 ? (
          <p class="muted">No grant overlaps the window.</p>
        ) : (
          <div class="tablewrap">
            <table class="log">
              <thead>
                <tr>
                  <th>Analyst</th>
                  <th>Dataset</th>
                  <th>Request · purpose</th>
                  <th>Approvers</th>
                  <th>From (UTC)</th>
                  <th>Until (UTC)</th>
                  <th>How it ended</th>
                </tr>
              </thead>
              <tbody>
                {r.grants.map((g) => (
                  <tr>
                    <td>{g.analyst}</td>
                    <td>{g.dataset}</td>
                    <td>
                      #{g.requestId} · {g.purpose}
                    </td>
                    <td>{g.approvers.join(', ')}</td>
                    <td class="t">{utc(g.startsAt)}</td>
                    <td class="t">{utc(g.endedAt ?? g.expiresAt)}</td>
                    <td>{g.endReason ? `${g.endReason}${g.endedBy ? ` (${g.endedBy})` : ''}` : 'live'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {r.grantsTotal > r.grants.length && <p class="muted">First {num(r.grants.length)} of {num(r.grantsTotal)} grants; the JSON has the same.</p>}
        <p class="muted">A DBA's hand grant is not a gate grant: its reads show below, under the login role, as “no request in force”.</p>
      </section>

      <section class="card" id="readers">
        <h2>Who did read: {num(r.readsTotal)} recorded statements on {r.tables.join(', ') || 'no table'}</h2>
        {r.readers.length === 0 ? (
          <p class="muted">No statement recorded by pgaudit in the window.</p>
        ) : (
          <table class="counts">
            <thead>
              <tr>
                <th>Reader</th>
                <th>Under requests</th>
                <th>Statements</th>
                <th>Outside a grant</th>
                <th>First</th>
                <th>Last</th>
              </tr>
            </thead>
            <tbody>
              {r.readers.map((x) => (
                <tr>
                  <td>{x.analyst ?? <span class="mono">{x.role}</span>}</td>
                  <td>{x.requestIds.length ? x.requestIds.map((id) => `#${id}`).join(', ') : '–'}</td>
                  <td>{num(x.reads)}</td>
                  <td>{num(x.outsideGrant)}</td>
                  <td>{day(x.first)}</td>
                  <td>{day(x.last)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section class="card" id="naming">
        <h2>Statements naming them: {num(r.namingTotal)}</h2>
        <p class="muted">
          Retained statement text containing the username or a pseudonym as a whole word, in any case (newest {r.limits.namingReads} shown).
        </p>
        <ReadsTable reads={r.namingReads} id="naming-reads" caption="Statements naming the person" />
      </section>

      <section class="card" id="latest">
        <h2>Latest statements on those tables</h2>
        <ReadsTable reads={r.latestReads} id="latest-reads" caption="Latest statements" />
      </section>

      <section class="card" id="alerts">
        <h2>Alerts on those reads: {num(r.alerts.length)}</h2>
        {r.alerts.length === 0 ? (
          <p class="muted">None.</p>
        ) : (
          <ul>
            {r.alerts.map((a) => (
              <li>
                <a href={`/audit/events/${a.eventId}`}>{a.rule}</a>: {a.analyst ?? 'unknown login'}, {a.reason} (read{' '}
                <a href={`/audit/events/${a.readEventId}`}>#{a.readEventId}</a>, {utc(a.at)} UTC)
              </li>
            ))}
          </ul>
        )}
      </section>
      <SubjectForm values={ctx.values} />
    </Layout>
  );
}
