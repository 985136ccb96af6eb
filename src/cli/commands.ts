// The commands. Input the gate takes is checked first with the gate's own schemas
// (src/api/schemas.ts), so a bad value is a usage error (exit 2) before anything is sent.
import os from 'node:os';
import type { z } from 'zod';
import { credentialRequest, parseInt4Id, piiRequestCreate, piiReview } from '../api/schemas.js';
import { GateClient } from './client.js';
import { DurationError, formatDuration, parseDuration } from './duration.js';
import { CliError, EXIT, usageError } from './errors.js';
import { type TokenAnswer, deviceLogin, loopbackLogin } from './login.js';
import { type WrittenFiles, writeConnectionFiles } from './pgfiles.js';
import { type StoredToken, deleteToken, readToken, saveToken } from './store.js';
import { utcMinutes } from '../time.js';

export interface Context {
  gate: string;
  env: NodeJS.ProcessEnv;
  /** A line for stdout (results). */
  out(line?: string): void;
  /** A line for stderr (progress, hints). */
  err(line?: string): void;
}

type Values = Record<string, string | boolean | undefined>;

// --- What the gate answers (the parts the CLI reads) ---------------------------------------------

interface Me {
  username: string;
  email: string | null;
  groups: string[];
  standing: { member: boolean; approver: boolean; auditor: boolean; admin: boolean };
  agreement: { version: string; title: string; accepted: boolean; acceptedAt: string | null };
  admitted: boolean;
  role: string | null;
  credential: { id: number; issuedAt: string; expiresAt: string } | null;
  policy: { ttlDefault: number; ttlMax: number };
}

interface Issued {
  id: number;
  role: string;
  password: string;
  issuedAt: string;
  expiresAt: string;
  ttlSeconds: number;
  capped: boolean;
  connection: { host: string; port: number; database: string };
}

interface Grant {
  id: number;
  requestId: number;
  analyst: string;
  dataset: string;
  startsAt: string;
  expiresAt: string;
  endedAt: string | null;
  endReason: string | null;
  live: boolean;
}

interface Review {
  reviewer: string;
  decision: 'approve' | 'deny';
  comment: string | null;
  at: string;
}

interface RequestView {
  id: number;
  analyst: string;
  datasets: string[];
  purpose: string;
  durationSeconds: number;
  state: string;
  createdAt: string;
  reviewDeadline: string;
  approvalsRequired: number;
  approvals: number;
  reviews: Review[];
  decisionComment: string | null;
  grants: Grant[];
}

interface QueueItem extends RequestView {
  decidable: boolean;
  whyNot?: string;
  history: RequestView[];
}

interface Dataset {
  name: string;
  description: string;
  tables: string[];
  maxDurationSeconds: number;
  approvalsRequired: number;
  minPurposeLength: number;
}

// --- Helpers -------------------------------------------------------------------------------------

const USER_AGENT = `fdwg (node ${process.version}; ${process.platform})`;

/** `2026-01-31 17:00 UTC (in 7h 59m)` */
export function when(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const stamp = utcMinutes(t);
  const delta = Math.round((t - now) / 1000);
  return `${stamp} (${delta >= 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`})`;
}

/** The first problem zod found, as one line naming the field. */
function firstIssue(error: z.ZodError, names: Record<string, string> = {}): string {
  const issue = error.issues[0]!;
  const field = issue.path.length ? String(issue.path[0]) : '';
  return `${names[field] ?? field}${field ? ': ' : ''}${issue.message}`;
}

function duration(value: string, option: string): number {
  try {
    return parseDuration(value);
  } catch (e) {
    if (e instanceof DurationError) throw usageError(`${option}: ${e.message}`);
    throw e;
  }
}

function requestId(raw: string): number {
  const id = parseInt4Id(raw);
  if (!id.ok) throw usageError(`"${raw}" is not a request id (${id.reason}); \`fdwg requests\` lists yours.`);
  return id.id;
}

/** The stored token for this gate, or exit 3 with what to do. */
function signedIn(ctx: Context): { client: GateClient; stored: StoredToken } {
  const stored = readToken(ctx.gate, ctx.env);
  if (!stored) throw new CliError(EXIT.notSignedIn, `Not signed in to ${ctx.gate}. Run \`fdwg login\` (or \`fdwg login --device\` over ssh).`, 'no_token');
  if (Date.parse(stored.expiresAt) <= Date.now()) {
    throw new CliError(EXIT.notSignedIn, `Your sign-in to ${ctx.gate} ended at ${when(stored.expiresAt)}. Run \`fdwg login\` again.`, 'token_expired');
  }
  return { client: new GateClient(ctx.gate, stored.token, USER_AGENT), stored };
}

const json = (ctx: Context, value: unknown) => ctx.out(JSON.stringify(value, null, 2));

/** A value for `export NAME=...` that the shell takes literally. */
export const shellQuote = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function describeRequest(ctx: Context, r: RequestView, indent = '') {
  ctx.out(
    `${indent}#${r.id}  ${r.state.padEnd(9)} ${r.datasets.join(', ')}  for ${formatDuration(r.durationSeconds)}` +
      (r.analyst ? `  by ${r.analyst}` : '') +
      `  asked ${when(r.createdAt).replace(/ \(.*/, '')}`,
  );
  ctx.out(`${indent}     purpose: ${r.purpose}`);
  if (r.state === 'pending') {
    ctx.out(`${indent}     ${r.approvals}/${r.approvalsRequired} approvals; review window closes ${when(r.reviewDeadline)}`);
  }
  for (const v of r.reviews) {
    ctx.out(`${indent}     ${v.decision === 'approve' ? 'approved' : 'denied'} by ${v.reviewer}${v.comment ? `: ${v.comment}` : ''}`);
  }
  for (const g of r.grants) {
    ctx.out(
      `${indent}     access to ${g.dataset}: ${g.live ? `live until ${when(g.expiresAt)}` : `ended ${when(g.endedAt ?? g.expiresAt).replace(/ \(.*/, '')}${g.endReason ? ` (${g.endReason})` : ''}`}`,
    );
  }
}

// --- Commands ------------------------------------------------------------------------------------

async function login(ctx: Context, values: Values) {
  const client = new GateClient(ctx.gate, undefined, USER_AGENT);
  const io = { say: (line: string) => ctx.err(line) };
  // The gate shows it on the confirmation page; it takes at most 100 characters.
  const clientName = `fdwg on ${os.hostname()}`.slice(0, 100);
  const answer: TokenAnswer = values.device
    ? await deviceLogin(client, io, { clientName })
    : await loopbackLogin(client, io, { clientName, open: !values['no-open'] });
  // A token already here for this gate is replaced; end it at the gate so it does not linger.
  const previous = readToken(ctx.gate, ctx.env);
  const file = saveToken(
    { gate: ctx.gate, token: answer.token, username: answer.username, expiresAt: answer.expiresAt, createdAt: new Date().toISOString() },
    ctx.env,
  );
  if (previous && previous.token !== answer.token) {
    await new GateClient(ctx.gate, previous.token, USER_AGENT).send('POST', '/api/cli/logout', {}).catch(() => undefined);
  }
  ctx.out(`Signed in to ${ctx.gate} as ${answer.username}; the token is valid until ${when(answer.expiresAt)}.`);
  ctx.err(`Token stored in ${file}`);
}

async function logout(ctx: Context) {
  const stored = readToken(ctx.gate, ctx.env);
  if (!stored) {
    ctx.out(`Not signed in to ${ctx.gate}; nothing to do.`);
    return;
  }
  const client = new GateClient(ctx.gate, stored.token, USER_AGENT);
  try {
    await client.call('POST', '/api/cli/logout', {});
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    if (e.exitCode === EXIT.notSignedIn) {
      // Already ended at the gate (expired, revoked): only the local copy is left.
      deleteToken(ctx.gate, ctx.env);
      ctx.out(`Signed out of ${ctx.gate} (the gate had already ended this token).`);
      return;
    }
    deleteToken(ctx.gate, ctx.env);
    throw new CliError(
      e.exitCode,
      `${e.message}\nThe token was removed from this computer, but the gate was not told: it stays valid until ${when(stored.expiresAt)}.`,
      e.code,
    );
  }
  deleteToken(ctx.gate, ctx.env);
  ctx.out(`Signed out of ${ctx.gate}; the token is ended at the gate and removed here.`);
}

async function liveGrants(client: GateClient, me: Me): Promise<Grant[] | undefined> {
  if (!me.standing.member) return undefined;
  const { requests } = await client.call<{ requests: RequestView[] }>('GET', '/api/requests');
  return requests.flatMap((r) => r.grants.filter((g) => g.live));
}

async function status(ctx: Context, values: Values) {
  const { client, stored } = signedIn(ctx);
  const me = await client.call<Me>('GET', '/api/me');
  const grants = await liveGrants(client, me);
  if (values.json) return json(ctx, { gate: ctx.gate, tokenExpiresAt: stored.expiresAt, ...me, liveGrants: grants ?? [] });
  const roles = Object.entries(me.standing)
    .filter(([, v]) => v)
    .map(([k]) => k);
  const credentialExpired = me.credential && Date.parse(me.credential.expiresAt) <= Date.now();
  ctx.out(`Gate:        ${ctx.gate}`);
  ctx.out(`Signed in:   ${me.username} (token valid until ${when(stored.expiresAt)})`);
  ctx.out(`Groups:      ${me.groups.join(', ') || '(none)'}`);
  ctx.out(`Standing:    ${roles.length ? roles.join(', ') : 'not an FDWG member: no warehouse access'}`);
  ctx.out(
    `Agreement:   version ${me.agreement.version} ${me.agreement.accepted ? 'accepted' : `not accepted yet: read and accept it at ${ctx.gate}/`}`,
  );
  ctx.out(`Admitted:    ${me.admitted ? `yes, as role ${me.role}` : 'no'}`);
  ctx.out(
    `Password:    ${
      me.credential && !credentialExpired
        ? `valid until ${when(me.credential.expiresAt)}`
        : me.admitted
          ? 'none valid; `fdwg creds` issues one'
          : 'none'
    }`,
  );
  if (grants) {
    if (grants.length === 0) ctx.out('PII access:  none');
    grants.forEach((g, i) =>
      ctx.out(`${i === 0 ? 'PII access:  ' : '             '}${g.dataset} until ${when(g.expiresAt)} (request #${g.requestId})`),
    );
  }
}

async function creds(ctx: Context, values: Values) {
  if (values.env && values.json) throw usageError('--env and --json: pick one. See `fdwg creds --help`.');
  const body = credentialRequest.safeParse(values.ttl === undefined ? {} : { ttlSeconds: duration(values.ttl as string, '--ttl') });
  if (!body.success) throw usageError(`--ttl: ${body.error.issues[0]!.message}`);
  const { client } = signedIn(ctx);
  const issued = await client.call<Issued>('POST', '/api/credentials', body.data);
  const target = { host: issued.connection.host, port: issued.connection.port, database: issued.connection.database, user: issued.role };
  let files: WrittenFiles;
  try {
    files = writeConnectionFiles(target, issued.password, 'fdwg', ctx.env);
  } catch (e) {
    throw new CliError(
      EXIT.error,
      `A password for ${issued.role} was issued, but writing the connection files failed: ${(e as Error).message}. Run \`fdwg creds --json\` to see the password once, or fix the file and run \`fdwg creds\` again.`,
    );
  }
  const summary = [
    `Password for ${issued.role} valid until ${when(issued.expiresAt)}${issued.capped ? ' (cut to the policy maximum)' : ''}.`,
    `${files.pgpass.path}: line ${files.pgpass.action}`,
    `${files.service.path}: [fdwg] section ${files.service.action}`,
    `Connect with: psql service=fdwg   (or in Python: postgresql:///?service=fdwg)`,
  ];
  if (values.json) {
    json(ctx, issued);
    return;
  }
  if (values.env) {
    const vars: Array<[string, string]> = [
      ['PGHOST', target.host],
      ['PGPORT', String(target.port)],
      ['PGDATABASE', target.database],
      ['PGUSER', target.user],
      ['PGPASSFILE', files.pgpass.path],
    ];
    for (const [k, v] of vars) ctx.out(`export ${k}=${shellQuote(v)}`);
    for (const line of summary) ctx.err(line);
    return;
  }
  for (const line of summary) ctx.out(line);
}

async function revoke(ctx: Context, values: Values) {
  const { client } = signedIn(ctx);
  const result = await client.call<{ sessionsEnded: number; leasesRevoked: number }>('DELETE', '/api/credentials');
  if (values.json) return json(ctx, result);
  ctx.out(
    result.leasesRevoked > 0
      ? `Password revoked: no new logins; ${plural(result.sessionsEnded, 'open session')} ended.`
      : `You had no valid password; ${plural(result.sessionsEnded, 'open session')} ended.`,
  );
}

async function datasets(ctx: Context, values: Values) {
  const { client } = signedIn(ctx);
  const answer = await client.call<{ datasets: Dataset[]; reviewWindowSeconds: number }>('GET', '/api/datasets');
  if (values.json) return json(ctx, answer);
  for (const d of answer.datasets) {
    ctx.out(
      `${d.name}: up to ${formatDuration(d.maxDurationSeconds)}, ${plural(d.approvalsRequired, 'approval')}, purpose of at least ${d.minPurposeLength} characters`,
    );
    ctx.out(`    tables: ${d.tables.join(', ')}`);
    ctx.out(`    ${d.description}`);
  }
  ctx.out(`Requests nobody decides within ${formatDuration(answer.reviewWindowSeconds)} expire.`);
}

async function request(ctx: Context, values: Values, positionals: string[]) {
  if (values.purpose === undefined) throw usageError('fdwg request needs --purpose "why you need it". See `fdwg request --help`.');
  if (values.for === undefined) throw usageError('fdwg request needs --for, e.g. --for 7d. See `fdwg request --help`.');
  const body = piiRequestCreate.safeParse({
    datasets: positionals,
    purpose: values.purpose,
    durationSeconds: duration(values.for as string, '--for'),
  });
  if (!body.success) throw usageError(firstIssue(body.error, { datasets: 'dataset', purpose: '--purpose', durationSeconds: '--for' }));
  const { client } = signedIn(ctx);
  const r = await client.call<RequestView>('POST', '/api/requests', body.data);
  if (values.json) return json(ctx, r);
  ctx.out(`Request #${r.id} for ${r.datasets.join(', ')} is ${r.state}: it needs ${plural(r.approvalsRequired, 'approval')} by ${when(r.reviewDeadline)}.`);
  ctx.out('`fdwg requests` shows its progress.');
}

async function requests(ctx: Context, values: Values) {
  const { client } = signedIn(ctx);
  const answer = await client.call<{ requests: RequestView[] }>('GET', '/api/requests');
  if (values.json) return json(ctx, answer);
  if (answer.requests.length === 0) ctx.out('No requests yet. `fdwg datasets` lists what you can ask for.');
  for (const r of answer.requests) describeRequest(ctx, { ...r, analyst: '' });
}

async function relinquish(ctx: Context, values: Values, positionals: string[]) {
  const id = requestId(positionals[0]!);
  const { client } = signedIn(ctx);
  const r = await client.call<RequestView>('POST', `/api/requests/${id}/relinquish`, {});
  if (values.json) return json(ctx, r);
  ctx.out(`Access from request #${r.id} (${r.datasets.join(', ')}) ended.`);
}

async function approvals(ctx: Context, values: Values) {
  const { client } = signedIn(ctx);
  const answer = await client.call<{ pending: QueueItem[]; liveGrants: Grant[] }>('GET', '/api/approvals');
  if (values.json) return json(ctx, answer);
  ctx.out(`Pending requests: ${answer.pending.length}`);
  for (const r of answer.pending) {
    describeRequest(ctx, r, '  ');
    ctx.out(`       ${r.decidable ? `you can decide: fdwg approve ${r.id} | fdwg deny ${r.id} --comment "..."` : `not for you: ${r.whyNot ?? ''}`}`);
    if (r.history.length) {
      ctx.out(`       ${r.analyst} asked before: ${r.history.map((h) => `#${h.id} ${h.datasets.join('+')} ${h.state}`).join(', ')}`);
    }
  }
  ctx.out(`Live PII access: ${answer.liveGrants.length}`);
  for (const g of answer.liveGrants) ctx.out(`  grant #${g.id}  ${g.analyst}  ${g.dataset} until ${when(g.expiresAt)} (request #${g.requestId})`);
}

async function review(ctx: Context, values: Values, positionals: string[], decision: 'approve' | 'deny') {
  const id = requestId(positionals[0]!);
  if (decision === 'deny' && !(typeof values.comment === 'string' && values.comment.trim())) {
    throw usageError('fdwg deny needs --comment "why": the requester reads it.');
  }
  const body = piiReview.safeParse({ decision, ...(values.comment !== undefined ? { comment: values.comment } : {}) });
  if (!body.success) throw usageError(firstIssue(body.error, { comment: '--comment' }));
  const { client } = signedIn(ctx);
  const result = await client.call<{ request: RequestView; final: boolean }>('POST', `/api/requests/${id}/reviews`, body.data);
  if (values.json) return json(ctx, result);
  const r = result.request;
  if (decision === 'deny') ctx.out(`Request #${r.id} denied.`);
  else if (r.state === 'approved') ctx.out(`Request #${r.id} approved: ${r.analyst} has access to ${r.datasets.join(', ')} now.`);
  else ctx.out(`Your approval of request #${r.id} is recorded: ${r.approvals}/${r.approvalsRequired}; it needs another approver.`);
}

export async function run(command: string, values: Values, positionals: string[], ctx: Context): Promise<void> {
  switch (command) {
    case 'login':
      return login(ctx, values);
    case 'logout':
      return logout(ctx);
    case 'status':
      return status(ctx, values);
    case 'creds':
      return creds(ctx, values);
    case 'revoke':
      return revoke(ctx, values);
    case 'datasets':
      return datasets(ctx, values);
    case 'request':
      return request(ctx, values, positionals);
    case 'requests':
      return requests(ctx, values);
    case 'relinquish':
      return relinquish(ctx, values, positionals);
    case 'approvals':
      return approvals(ctx, values);
    case 'approve':
      return review(ctx, values, positionals, 'approve');
    case 'deny':
      return review(ctx, values, positionals, 'deny');
    default:
      throw usageError(`unknown command "${command}"`);
  }
}

