// What `fdwg --help` and `fdwg <command> --help` print: usage, options, examples, exit codes.
import { EXIT_CODES_HELP } from './errors.js';

export const DEFAULT_GATE = 'http://localhost:8787';

const GLOBAL = `Global options:
  --gate URL     the gate's address (default: $FDWG_GATE_URL, else ${DEFAULT_GATE})
  -h, --help     this help; \`fdwg <command> --help\` for one command
  --version      the version of fdwg`;

interface CommandHelp {
  summary: string;
  usage: string;
  options?: string;
  details?: string;
  examples: string;
}

export const COMMANDS: Record<string, CommandHelp> = {
  login: {
    summary: 'sign the command line in (browser on this computer, or --device)',
    usage: 'fdwg login [--device] [--no-open]',
    options: `  --device    sign in with a browser anywhere (ssh, JupyterHub): prints an address and a code
  --no-open   do not start a browser; print the address to open instead`,
    details: `Without --device, fdwg listens on 127.0.0.1 and opens the gate in your browser; after you sign in
and click "Allow", the browser comes back to fdwg with a one-time code (PKCE S256). The token is
stored for this gate under $XDG_CONFIG_HOME/fdwg/ (default ~/.config/fdwg/), mode 0600.`,
    examples: `  fdwg login
  fdwg login --device              # over ssh: open the printed address on your laptop
  fdwg --gate https://gate.example.org login`,
  },
  logout: {
    summary: 'end the token at the gate and forget it here',
    usage: 'fdwg logout',
    examples: '  fdwg logout',
  },
  status: {
    summary: 'who you are, standing, agreement, password expiry, live PII access',
    usage: 'fdwg status [--json]',
    options: '  --json      print what the gate answered (GET /api/me, and your live PII grants)',
    examples: `  fdwg status
  fdwg status --json | jq .credential.expiresAt`,
  },
  creds: {
    summary: 'get a PostgreSQL password; write ~/.pgpass and the [fdwg] service',
    usage: 'fdwg creds [--ttl 8h] [--env | --json]',
    options: `  --ttl D     lifetime, e.g. 2h, 90m, 1d (default and maximum: the gate's policy)
  --env       print export PGHOST=... lines for eval (the password stays in the pgpass file)
  --json      print the gate's answer, password included`,
    details: `Writes or updates exactly one line in ~/.pgpass ($PGPASSFILE) and one [fdwg] section in
~/.pg_service.conf ($PGSERVICEFILE), both mode 0600; every other line and section is kept. The
password is not printed unless you ask with --json.`,
    examples: `  fdwg creds && psql service=fdwg
  eval "$(fdwg creds --env)" && psql -c 'select 1'
  fdwg creds --ttl 2h
  python -c "import pandas as pd; print(pd.read_sql('select 1', 'postgresql:///?service=fdwg'))"`,
  },
  revoke: {
    summary: 'end your password now (no new logins, open sessions closed)',
    usage: 'fdwg revoke [--json]',
    examples: '  fdwg revoke',
  },
  datasets: {
    summary: 'the PII datasets you can request',
    usage: 'fdwg datasets [--json]',
    examples: '  fdwg datasets',
  },
  request: {
    summary: 'ask for PII datasets, with a purpose and a duration',
    usage: 'fdwg request <dataset>... --purpose TEXT --for D [--json]',
    options: `  --purpose TEXT   why you need it (approvers read it; the policy sets a minimum length)
  --for D          how long, e.g. 7d, 36h (at most the dataset's maximum)`,
    examples: `  fdwg request maintainer_identities --for 7d --purpose "Join 2025 activity to the maintainer roster for the FESCo report"
  fdwg datasets    # names, maximum durations, purpose lengths`,
  },
  requests: {
    summary: 'your PII requests, their reviews and access',
    usage: 'fdwg requests [--json]',
    examples: '  fdwg requests',
  },
  relinquish: {
    summary: 'give up live PII access from a request before it ends',
    usage: 'fdwg relinquish <request id> [--json]',
    examples: '  fdwg relinquish 12',
  },
  approvals: {
    summary: 'approvers: the pending requests and live grants',
    usage: 'fdwg approvals [--json]',
    examples: '  fdwg approvals',
  },
  approve: {
    summary: 'approvers: approve a request (one vote)',
    usage: 'fdwg approve <request id> [--comment TEXT] [--json]',
    options: '  --comment TEXT   a note for the requester and the access log',
    examples: `  fdwg approve 12
  fdwg approve 12 --comment "ok for the roster join"`,
  },
  deny: {
    summary: 'approvers: deny a request (a comment is required)',
    usage: 'fdwg deny <request id> --comment TEXT [--json]',
    options: '  --comment TEXT   why (the requester reads it)',
    examples: '  fdwg deny 12 --comment "Use the pseudonymized tables: the purpose does not need names"',
  },
};

export function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const list = Object.entries(COMMANDS)
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
    .join('\n');
  return `fdwg: the FDWG Access Gate from the command line

Usage: fdwg [--gate URL] <command> [options]

Commands:
${list}

${GLOBAL}

Environment:
  FDWG_GATE_URL     the gate's address (--gate wins)
  XDG_CONFIG_HOME   where tokens are kept (fdwg/ inside it; default ~/.config)
  PGPASSFILE, PGSERVICEFILE   the files \`fdwg creds\` writes (default ~/.pgpass, ~/.pg_service.conf)

Examples:
  fdwg login                       # browser on this computer
  fdwg login --device              # ssh, JupyterHub: a code to confirm in any browser
  fdwg creds && psql service=fdwg -c 'select count(*) from pseudonymized.messages'
  eval "$(fdwg creds --env)" && psql
  fdwg status

In a notebook, after \`fdwg creds\`:
  pd.read_sql("select ...", "postgresql:///?service=fdwg")

${EXIT_CODES_HELP}
`;
}

export function commandHelp(name: string): string {
  const c = COMMANDS[name]!;
  return [
    `fdwg ${name}: ${c.summary}`,
    '',
    `Usage: ${c.usage}`,
    ...(c.options ? ['', 'Options:', c.options] : []),
    '',
    GLOBAL,
    ...(c.details ? ['', c.details] : []),
    '',
    'Examples:',
    c.examples,
    '',
    EXIT_CODES_HELP,
    '',
  ].join('\n');
}
