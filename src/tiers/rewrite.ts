// One Datanommer message -> its pseudonymized row and the personal data moved to the pii tier,
// driven by the policy's dictionary (pii_dictionary.messages), never by code per topic.
//
// Fail closed: after the rules ran, any string or key still equal to a known username, or
// holding an '@', keeps the message out of the tier (quarantined with the reason). Bodies that
// PostgreSQL's jsonb cannot hold are quarantined before anything else. Reasons never quote the
// offending value (it may be personal data).
import type { PolicyDocument } from '../policy/schema.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export type MessageRules = PolicyDocument['pii_dictionary']['messages'];

/** One source row as read from Datanommer (a table, or a day's \COPY file). */
export interface SourceRow {
  id: number;
  msg_id: string;
  i: number;
  topic: string;
  /** `YYYY-MM-DD HH:MM:SS[.ffffff]`, as PostgreSQL prints a timestamp without time zone. */
  timestamp: string;
  category: string | null;
  agent_name: string | null;
  source_name: string | null;
  source_version: string | null;
  /** The body as JSON text (null when it was too large to read, see `bytes`). */
  body: string | null;
  bytes: number;
  headers: JsonObject | null;
  /** Already known to be unstorable (headers of a \COPY row that jsonb refuses). */
  bad?: QuarantineReason;
}

export interface TierRow {
  id: number;
  msg_id: string;
  i: number;
  topic: string;
  timestamp: string;
  category: string;
  agent_pseudonym: string | null;
  source_name: string | null;
  source_version: string | null;
  msg: JsonObject;
  headers: JsonObject | null;
  period: string;
}

export interface TextRow {
  msg_id: string;
  kind: 'comment' | 'commit';
  author_name: string | null;
  author_email: string | null;
  body: string;
}

export type Rewritten =
  | { ok: true; row: TierRow; texts: TextRow[]; usernames: string[] }
  | { ok: false; reason: QuarantineReason };

export type QuarantineReason = 'too large' | 'invalid JSON' | 'contains \\u0000' | 'lone surrogate' | 'not an object' | 'personal data left';

/** PostgreSQL's jsonb refuses containers or strings over 2^28 - 1 bytes (JENTRY_OFFLENMASK). */
export const JSONB_MAX_BYTES = 0x0fffffff;

export interface RewriteContext {
  /** Every username the source knows (users.name): the fail-closed check compares against it. */
  known: ReadonlySet<string>;
  /** The period's pseudonym of a username. */
  pseudonym(period: string, username: string): string;
  period(timestamp: string): string;
}

export interface CompiledRules {
  usernames: string[][];
  inText: { path: string[]; re: RegExp }[];
  texts: { path: string[]; kind: 'comment' | 'commit'; name?: string[]; email?: string[] }[];
  drop: string[][];
  headerPrefix: string;
  service: Set<string>;
}

export function compileRules(rules: MessageRules): CompiledRules {
  const split = (p: string) => p.split('.');
  return {
    usernames: rules.username_paths.map(split),
    inText: rules.username_in_text.map((r) => ({ path: split(r.path), re: new RegExp(r.pattern) })),
    texts: rules.free_text.map((t) => ({
      path: split(t.path),
      kind: t.kind,
      ...(t.author_name ? { name: split(t.author_name) } : {}),
      ...(t.author_email ? { email: split(t.author_email) } : {}),
    })),
    drop: rules.drop.map(split),
    headerPrefix: rules.header_user_prefix,
    service: new Set(rules.service_accounts),
  };
}

/** The object holding the last part of `path`, or null when the message has no such place. */
function parentOf(msg: JsonObject, path: string[]): JsonObject | null {
  let cur: Json = msg;
  for (let i = 0; i < path.length - 1; i++) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return null;
    cur = cur[path[i]!] ?? null;
  }
  return cur !== null && typeof cur === 'object' && !Array.isArray(cur) ? cur : null;
}

function take(msg: JsonObject, path: string[]): string | null {
  const parent = parentOf(msg, path);
  if (!parent) return null;
  const key = path[path.length - 1]!;
  if (!(key in parent)) return null;
  const v = parent[key];
  delete parent[key];
  return typeof v === 'string' ? v : v === null || v === undefined ? null : JSON.stringify(v);
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);
// eslint-disable-next-line no-control-regex
const NUL_OR_LONE_SURROGATE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Strings and keys PostgreSQL's jsonb would refuse. */
function unstorable(v: Json): QuarantineReason | null {
  const stack: Json[] = [v];
  while (stack.length > 0) {
    const x = stack.pop()!;
    if (typeof x === 'string') {
      const m = NUL_OR_LONE_SURROGATE.exec(x);
      if (m) return m[0] === '\u0000' ? 'contains \\u0000' : 'lone surrogate';
    } else if (Array.isArray(x)) stack.push(...x);
    else if (x !== null && typeof x === 'object') {
      for (const k in x) {
        const m = NUL_OR_LONE_SURROGATE.exec(k);
        if (m) return m[0] === '\u0000' ? 'contains \\u0000' : 'lone surrogate';
        stack.push(x[k]!);
      }
    }
  }
  return null;
}

/** Parses a body the way PostgreSQL's jsonb would accept it, or says why it would not. */
export function parseBody(body: string | null, bytes: number): { ok: true; value: Json } | { ok: false; reason: QuarantineReason } {
  if (body === null || bytes > JSONB_MAX_BYTES) return { ok: false, reason: 'too large' };
  let value: Json;
  try {
    value = JSON.parse(body) as Json;
  } catch {
    return { ok: false, reason: 'invalid JSON' };
  }
  // In JSON text a NUL or a lone surrogate can only be a \u escape: no escape, nothing to walk.
  const bad = body.includes('\\u') ? unstorable(value) : null;
  return bad ? { ok: false, reason: bad } : { ok: true, value };
}

/** Rewrites one message; `msg` must be a fresh object (it is modified in place). */
export function rewriteMessage(src: SourceRow, r: CompiledRules, ctx: RewriteContext): Rewritten {
  if (src.bad) return { ok: false, reason: src.bad };
  const parsed = parseBody(src.body, src.bytes);
  if (!parsed.ok) return parsed;
  if (parsed.value === null || typeof parsed.value !== 'object' || Array.isArray(parsed.value)) return { ok: false, reason: 'not an object' };
  const badHeaders = src.headers ? unstorable(src.headers) : null;
  if (badHeaders) return { ok: false, reason: badHeaders };
  const msg = parsed.value;
  const period = ctx.period(src.timestamp);
  const usernames = new Set<string>();
  const pseudo = (name: string) => {
    if (r.service.has(name)) return name;
    usernames.add(name);
    return ctx.pseudonym(period, name);
  };

  const texts: TextRow[] = [];
  for (const t of r.texts) {
    const body = take(msg, t.path);
    const name = t.name ? take(msg, t.name) : null;
    const email = t.email ? take(msg, t.email) : null;
    if (body !== null && body !== '') texts.push({ msg_id: src.msg_id, kind: t.kind, author_name: name, author_email: email, body });
  }
  for (const p of r.drop) take(msg, p);
  for (const p of r.usernames) {
    const parent = parentOf(msg, p);
    const key = p[p.length - 1]!;
    const v = parent?.[key];
    if (parent && typeof v === 'string') parent[key] = pseudo(v);
  }
  for (const t of r.inText) {
    const parent = parentOf(msg, t.path);
    const key = t.path[t.path.length - 1]!;
    const v = parent?.[key];
    if (!parent || typeof v !== 'string') continue;
    const m = t.re.exec(v);
    if (m?.[1] !== undefined) parent[key] = v.slice(0, m.index) + m[0].replace(m[1], pseudo(lowerFirst(m[1]))) + v.slice(m.index + m[0].length);
  }

  let headers: JsonObject | null = null;
  if (src.headers) {
    headers = {};
    for (const [k, v] of Object.entries(src.headers)) {
      headers[k.startsWith(r.headerPrefix) ? r.headerPrefix + pseudo(k.slice(r.headerPrefix.length)) : k] = v;
    }
  }
  const agent = src.agent_name === null ? null : pseudo(src.agent_name);
  if (leaks(msg, ctx.known, r.headerPrefix) || (headers && leaks(headers, ctx.known, r.headerPrefix)) || src.topic.includes('@')) {
    return { ok: false, reason: 'personal data left' };
  }
  return {
    ok: true,
    row: {
      id: src.id,
      msg_id: src.msg_id,
      i: src.i,
      topic: src.topic,
      timestamp: src.timestamp,
      category: src.category ?? src.topic.split('.')[3] ?? '',
      agent_pseudonym: agent,
      source_name: src.source_name,
      source_version: src.source_version,
      msg,
      headers,
      period,
    },
    texts,
    usernames: [...usernames],
  };
}

/** Any string or key equal to a known username, or holding '@' (an e-mail). */
function leaks(value: Json, known: ReadonlySet<string>, headerPrefix: string): boolean {
  const bad = (s: string) => s.includes('@') || known.has(s);
  const stack: Json[] = [value];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (typeof v === 'string') {
      if (bad(v)) return true;
    } else if (Array.isArray(v)) stack.push(...v);
    else if (v !== null && typeof v === 'object') {
      for (const k in v) {
        if (bad(k) || (k.startsWith(headerPrefix) && known.has(k.slice(headerPrefix.length)))) return true;
        stack.push(v[k]!);
      }
    }
  }
  return false;
}
