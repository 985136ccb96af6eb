// Pages where a person lets the `fdwg` command line sign in as them.
import { utcMinutes } from '../time.js';
import { Layout, type PageContext } from './layout.js';

/** Loopback sign-in: the CLI on this machine waits at `redirect`. */
export function CliAuthorizePage(ctx: PageContext & { clientName: string; fields: Record<string, string> }) {
  return (
    <Layout {...ctx}>
      <div class="card">
        <h1>Sign in the command line?</h1>
        <p>
          <strong>{ctx.clientName}</strong> asks to act as <strong>{ctx.identity?.username}</strong> at the gate: get database
          passwords, request PII datasets and, if you are an approver, decide requests. Its token lasts at most 12 hours; "fdwg
          logout" or signing out here ends it.
        </p>
        <p class="muted">Allow only if you just ran "fdwg login" on this computer.</p>
        <form method="post" action="/cli/authorize" class="actions">
          <input type="hidden" name="_csrf" value={ctx.csrf ?? ''} />
          {Object.entries(ctx.fields).map(([name, value]) => (
            <input type="hidden" name={name} value={value} />
          ))}
          <button type="submit" name="decision" value="allow">
            Allow
          </button>{' '}
          <button type="submit" name="decision" value="cancel" class="secondary">
            Cancel
          </button>
        </form>
      </div>
    </Layout>
  );
}

/** Device style: the person types (or confirms) the code the CLI printed. */
export function CliDevicePage(
  ctx: PageContext & { code: string; pending: { clientName: string | null; requestedAt: Date; minutesAgo: number } | null; error?: string },
) {
  return (
    <Layout {...ctx}>
      <div class="card">
        <h1>Sign in a command line</h1>
        <p>
          Enter the code that <code>fdwg login --device</code> printed. Confirm only a code you started yourself: the command line
          then acts as <strong>{ctx.identity?.username}</strong> for at most 12 hours.
        </p>
        {ctx.pending && (
          // Device codes are the phishing-prone flow: show what asks and since when, so a code that
          // someone else started (a link sent to you) looks wrong before you confirm it.
          <p>
            Waiting: <strong>{ctx.pending.clientName ?? 'fdwg'}</strong>, started {utcMinutes(ctx.pending.requestedAt)} (
            {ctx.pending.minutesAgo < 1 ? 'just now' : `${ctx.pending.minutesAgo} min ago`}). If you did not just start it, press Deny.
          </p>
        )}
        {ctx.error && (
          <p class="once" role="alert">
            {ctx.error}
          </p>
        )}
        <form method="post" action="/cli/device">
          <input type="hidden" name="_csrf" value={ctx.csrf ?? ''} />
          <label for="userCode">Code</label>{' '}
          <input id="userCode" name="userCode" value={ctx.code} required autocomplete="off" autocapitalize="characters" spellcheck={false} size={10} />{' '}
          <button type="submit" name="decision" value="allow">
            Confirm
          </button>{' '}
          <button type="submit" name="decision" value="deny" class="secondary">
            Deny
          </button>
        </form>
      </div>
    </Layout>
  );
}

export function CliDonePage(ctx: PageContext & { heading: string; message: string }) {
  return (
    <Layout {...ctx}>
      <div class="card" role="status">
        <h1>{ctx.heading}</h1>
        <p>{ctx.message}</p>
      </div>
    </Layout>
  );
}
