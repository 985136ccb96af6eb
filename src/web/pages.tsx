import { raw } from 'hono/html';
import type { GateStatus } from '../admission/service.js';
import type { CredentialLease, IssuedCredential } from '../credentials/service.js';
import type { ConnectionSnippets } from '../credentials/connection.js';
import type { GrantView } from '../requests/service.js';
import { Layout, type PageContext } from './layout.js';
import { utcSeconds } from '../time.js';

function Check(props: { ok: boolean; children: unknown }) {
  return (
    <li class={props.ok ? 'yes' : 'no'}>
      <span class="mark" aria-hidden="true">
        {props.ok ? '✓' : '✗'}
      </span>
      <span>{props.children as string}</span>
    </li>
  );
}

export function LandingPage(ctx: PageContext & { signedOut?: { issuerLogoutUrl?: string } }) {
  return (
    <Layout {...ctx}>
      {ctx.signedOut && (
        <div class="card" role="status">
          <p>
            <span class="ok">You are signed out of the gate.</span>
          </p>
          {/* Ipsilon offers clients no end_session_endpoint: its session outlives ours. */}
          <p>
            Fedora Accounts may still have you signed in on this browser, so signing in here again would not ask for your
            password. On a shared computer, sign out there too.
          </p>
          {ctx.signedOut.issuerLogoutUrl && (
            <a class="button secondary" href={ctx.signedOut.issuerLogoutUrl}>
              Sign out of Fedora Accounts
            </a>
          )}
        </div>
      )}
      <div class="card">
        <h1>Access to the FDWG Datanommer warehouse</h1>
        <p>
          Sign in with your Fedora account. Members of the Fedora Data Working Group who accept the data-use agreement
          get their own PostgreSQL login for the pseudonymized tables, to use with psql, DBeaver, pandas or Jupyter.
        </p>
        <a class="button" href="/auth/login">
          Sign in with Fedora Accounts
        </a>
      </div>
    </Layout>
  );
}

export function HomePage(ctx: PageContext & { status: GateStatus; agreementText: string; lease: CredentialLease | null; ttlDefault: number; ttlMax: number; notice?: string; piiGrants?: GrantView[] }) {
  const { status, lease } = ctx;
  const { standing, agreement } = status;
  const ttlChoices = [3600, 4 * 3600, 8 * 3600, 24 * 3600].filter((t) => t <= ctx.ttlMax);
  return (
    <Layout {...ctx} standing={standing}>
      {ctx.notice && (
        <div class="card" role="status">
          <span class="ok">{ctx.notice}</span>
        </div>
      )}
      <div class="card">
        <h1>Your access</h1>
        <ul class="checklist" aria-label="Gate checklist">
          <Check ok={true}>Signed in as {ctx.identity?.username}</Check>
          <Check ok={standing.member}>{standing.member ? 'Member of the FDWG group' : 'Not a member of the FDWG group'}</Check>
          <Check ok={agreement.accepted}>
            {agreement.accepted
              ? `Data-use agreement version ${agreement.version} accepted`
              : `Data-use agreement version ${agreement.version} not accepted yet`}
          </Check>
          {ctx.piiGrants?.map((g) => (
            <Check ok={true}>
              PII access to {g.dataset} until {utcSeconds(g.expiresAt)} (request #{String(g.requestId)})
            </Check>
          ))}
        </ul>
        {status.admitted && (
          <p class="mt">
            <a href="/requests">Request access to PII datasets</a> (names, e-mail addresses, message text) for a stated purpose and a
            limited time.
          </p>
        )}
      </div>
      {standing.member && !agreement.accepted && (
        <div class="card">
          <h2>{agreement.title} (version {agreement.version})</h2>
          <div class="agreement" tabindex={0}>
            {ctx.agreementText.replace(/^#[^\n]*\n+/, '')}
          </div>
          <form method="post" action="/agreement" class="row mt">
            <input type="hidden" name="_csrf" value={ctx.csrf ?? ''} />
            <input type="hidden" name="version" value={agreement.version} />
            <button type="submit">I accept the agreement</button>
          </form>
        </div>
      )}
      {status.admitted && (
        <div class="card">
          <h2>Warehouse credentials</h2>
          {lease ? (
            <p>
              Your role <code>{lease.roleName}</code> has a password valid until <strong>{utcSeconds(lease.expiresAt)}</strong>.
              Getting new credentials replaces that password; sessions already open keep running.
            </p>
          ) : (
            <p class="muted">You have no valid password right now.</p>
          )}
          <form method="post" action="/credentials" class="row">
            <input type="hidden" name="_csrf" value={ctx.csrf ?? ''} />
            <label>
              Valid for
              <select name="ttl">
                {ttlChoices.map((t) => (
                  <option value={String(t)} selected={t === ctx.ttlDefault}>
                    {t / 3600} hour{t === 3600 ? '' : 's'}
                  </option>
                ))}
              </select>
            </label>
            <button type="submit">Get credentials</button>
          </form>
          {lease && (
            <form method="post" action="/credentials/revoke" class="row mt">
              <input type="hidden" name="_csrf" value={ctx.csrf ?? ''} />
              <button class="danger" type="submit">
                Revoke now and end my sessions
              </button>
            </form>
          )}
        </div>
      )}
      {!standing.member && (standing.auditor || standing.admin) && (
        <div class="card">
          <p class="muted">
            You are signed in as {standing.auditor ? 'an auditor' : 'an administrator'}. Warehouse credentials are for FDWG
            members only.
          </p>
        </div>
      )}
    </Layout>
  );
}

export function NotAdmittedPage(ctx: PageContext & { groups: string[]; memberGroups: string[] }) {
  return (
    <Layout {...ctx}>
      <div class="card error">
        <h1>Not admitted</h1>
        <p>
          The warehouse is open to members of the Fedora Data Working Group only. Your Fedora account{' '}
          <strong>{ctx.identity?.username}</strong> is not in {ctx.memberGroups.map((g) => `"${g}"`).join(' or ')}.
        </p>
        <p class="muted">
          Your groups: {ctx.groups.length ? ctx.groups.join(', ') : 'none'}. To join, ask the FDWG on its Fedora
          Discussion category; after you are added, sign out and sign in again.
        </p>
      </div>
    </Layout>
  );
}

function Snippet(props: { id: string; name: string; label: string; text: string }) {
  return (
    <div class="snippet">
      <div class="head">
        <strong>{props.label}</strong>
        <button class="secondary small" type="button" data-copy={props.id} aria-label={`Copy ${props.name}`}>
          Copy
        </button>
      </div>
      <pre id={props.id}>{props.text}</pre>
    </div>
  );
}

const copyScript = `document.querySelectorAll('[data-copy]').forEach(function(b){b.addEventListener('click',function(){
var t=document.getElementById(b.getAttribute('data-copy')).textContent;var live=document.getElementById('copy-status');
var done=function(){b.textContent='Copied';live.textContent=b.getAttribute('aria-label').replace('Copy ','')+' copied';setTimeout(function(){b.textContent='Copy'},1500)};
if(navigator.clipboard){navigator.clipboard.writeText(t).then(done,function(){b.textContent='Select and copy'})}else{b.textContent='Select and copy'}})});`;

export function CredentialPage(ctx: PageContext & { credential: IssuedCredential; snippets: ConnectionSnippets; target: { host: string; port: number; database: string } }) {
  const { credential: cr, snippets: s, target } = ctx;
  return (
    <Layout {...ctx}>
      <div class="card">
        <h1>Your credentials</h1>
        <div class="once" role="alert">
          This password is shown <strong>once</strong>. The gate does not keep it. Copy what you need now.
        </div>
        <dl class="kv">
          <dt>Role</dt>
          <dd>
            <code id="cred-role">{cr.roleName}</code>
          </dd>
          <dt>Password</dt>
          <dd>
            <code id="cred-password">{cr.password}</code> <button class="secondary small" type="button" data-copy="cred-password" aria-label="Copy password">Copy</button>
          </dd>
          <dt>Valid until</dt>
          <dd>
            <time id="cred-expires" datetime={cr.expiresAt.toISOString()}>
              {utcSeconds(cr.expiresAt)}
            </time>
            {cr.capped && <span class="muted"> (cut to the policy maximum)</span>}
          </dd>
          <dt>Server</dt>
          <dd>
            <code id="cred-host">{target.host}</code>:<code id="cred-port">{String(target.port)}</code>, database{' '}
            <code id="cred-database">{target.database}</code>
          </dd>
        </dl>
        <Snippet id="snip-psql" name="psql command" label="psql (reads the password from ~/.pgpass or asks for it)" text={s.psql} />
        <Snippet id="snip-uri" name="connection URI" label="Connection URI (pandas, SQLAlchemy, DBeaver)" text={s.uri} />
        <Snippet id="snip-pgpass" name="pgpass line" label="~/.pgpass line (chmod 600 ~/.pgpass)" text={s.pgpass} />
        <Snippet id="snip-service" name="service section" label={`~/.pg_service.conf section (then: psql service=${s.serviceName})`} text={s.pgService} />
        <p>
          <a href="/">Back to your access</a>
        </p>
      </div>
      <div id="copy-status" class="sr-only" role="status" aria-live="polite"></div>
      <script nonce={ctx.nonce}>{raw(copyScript)}</script>
    </Layout>
  );
}

export function ErrorPage(ctx: PageContext & { status: number; message: string; requestId?: string; retry?: boolean }) {
  return (
    <Layout {...ctx}>
      <div class="card error">
        <h1>{ctx.title}</h1>
        <p>{ctx.message}</p>
        {ctx.requestId && <p class="muted">Request id: {ctx.requestId}</p>}
        <p>
          <a href="/">Back to the start page</a>
          {ctx.retry && (
            <>
              {' · '}
              <a href="/auth/login">Sign in again</a>
            </>
          )}
        </p>
      </div>
    </Layout>
  );
}
