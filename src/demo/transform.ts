// Source message -> pseudonymized message + the free text that leaves the pseudonymized tier.
// Pure and synchronous: pseudonyms are computed up front (Web Crypto is async) and passed in.
//
// Fail closed: every field known to hold a username is rewritten, every field holding free
// text, a real name or an e-mail is removed, and the result is then checked for any string
// still equal to a known username or containing '@'. An unexpected shape throws rather than
// passing data through. Errors never quote the offending value (it may be personal data).
import { SYSTEM_ACCOUNTS } from './vocab.js';
import type { Json, JsonObject, MessageText, PseudonymizedMessage, SourceMessage } from './types.js';

export const USER_HEADER_PREFIX = 'fedora_messaging_user_';

export interface TransformResult {
  message: PseudonymizedMessage;
  texts: MessageText[];
}

interface Rewriter {
  /** Username -> pseudonym; service accounts (bodhi, anitya) pass through. */
  pseudonym(username: string): string;
  /** Record free text removed from the message. */
  text(kind: MessageText['kind'], body: string | null, authorName?: string | null, authorEmail?: string | null): void;
}

type Handler = (msg: JsonObject, r: Rewriter) => void;

/**
 * Copy-on-write descent: replaces o[key] by a shallow copy and returns the copy. Every handler
 * reaches what it edits through here from a copied root, so the source message is never
 * mutated, without paying for a deep copy of the parts left as they are.
 */
function child(o: JsonObject, key: string): JsonObject {
  const v = o[key];
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`expected an object at "${key}"`);
  const copy = { ...v };
  o[key] = copy;
  return copy;
}

function optionalChild(o: JsonObject, key: string): JsonObject | null {
  return o[key] === undefined ? null : child(o, key);
}

/** Replace the username at o[key] (if present) by its pseudonym. */
function mapUser(o: JsonObject, key: string, r: Rewriter): void {
  const v = o[key];
  if (v === undefined || v === null) return;
  if (typeof v !== 'string') throw new Error(`expected a username string at "${key}"`);
  o[key] = r.pseudonym(v);
}

/** Remove o[key] and return it if it was a string. */
function take(o: JsonObject, key: string): string | null {
  const v = o[key];
  delete o[key];
  return typeof v === 'string' ? v : null;
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

const HANDLERS: Record<string, Handler> = {
  bodhi(msg, r) {
    mapUser(msg, 'agent', r);
    mapUser(child(child(msg, 'update'), 'user'), 'name', r);
    const comment = optionalChild(msg, 'comment');
    if (comment) {
      mapUser(child(comment, 'user'), 'name', r);
      r.text('comment', take(comment, 'text'));
    }
  },
  buildsys(msg, r) {
    mapUser(msg, 'owner', r);
    mapUser(msg, 'user', r);
  },
  git(msg, r) {
    const commit = child(msg, 'commit');
    mapUser(commit, 'agent', r);
    mapUser(commit, 'username', r);
    const name = take(commit, 'name');
    const email = take(commit, 'email');
    take(commit, 'summary'); // first line of the message, stored with it
    r.text('commit', take(commit, 'message'), name, email);
  },
  fas(msg, r) {
    const inner = child(msg, 'msg');
    mapUser(inner, 'agent', r);
    mapUser(inner, 'user', r);
  },
  wiki(msg, r) {
    mapUser(msg, 'user', r);
    // User pages carry the username in the title ("User:Alice/Drafts") and hence in the URL.
    const title = msg.title;
    if (typeof title !== 'string') throw new Error('expected a wiki title');
    const m = /^User:([^/]+)(.*)$/.exec(title);
    if (m) {
      const renamed = `User:${r.pseudonym(lowerFirst(m[1] as string))}${m[2] as string}`;
      msg.title = renamed;
      if (typeof msg.url === 'string') {
        msg.url = msg.url.replace(`title=${title.replace(/ /g, '_')}`, `title=${renamed}`);
      }
    }
    r.text('comment', take(msg, 'summary'));
  },
  anitya(msg, r) {
    mapUser(child(msg, 'message'), 'agent', r);
  },
  discourse(msg, r) {
    const body = child(msg, 'webhook_body');
    const post = optionalChild(body, 'post');
    if (post) {
      mapUser(post, 'username', r);
      delete post.avatar_template; // the URL path contains the username
      const name = take(post, 'name');
      r.text('comment', take(post, 'raw'), name);
    }
    const topic = optionalChild(body, 'topic');
    if (topic) {
      const by = child(topic, 'created_by');
      mapUser(by, 'username', r);
      delete by.avatar_template;
      delete by.name;
    }
  },
};

export function transformMessage(src: SourceMessage, pseudonyms: ReadonlyMap<string, string>): TransformResult {
  const texts: MessageText[] = [];
  const r: Rewriter = {
    pseudonym(username) {
      if (SYSTEM_ACCOUNTS.has(username)) return username;
      const p = pseudonyms.get(username);
      if (p === undefined) throw new Error(`message ${src.id}: a user field holds an unknown username`);
      return p;
    },
    text(kind, body, authorName = null, authorEmail = null) {
      if (body !== null && body !== '') texts.push({ msgId: src.msgId, kind, authorName, authorEmail, body });
    },
  };
  const handler = HANDLERS[src.category];
  if (!handler) throw new Error(`message ${src.id}: no pseudonymization rule for category ${src.category}`);
  const msg: JsonObject = { ...src.msg }; // see child()
  handler(msg, r);

  const headers: JsonObject = {};
  for (const [k, v] of Object.entries(src.headers)) {
    if (k.startsWith(USER_HEADER_PREFIX)) headers[USER_HEADER_PREFIX + r.pseudonym(k.slice(USER_HEADER_PREFIX.length))] = v;
    else headers[k] = v;
  }

  const message: PseudonymizedMessage = {
    id: src.id,
    msgId: src.msgId,
    i: src.i,
    topic: src.topic,
    timestamp: src.timestamp,
    category: src.category,
    agentPseudonym: src.agentName === null ? null : r.pseudonym(src.agentName),
    sourceName: src.sourceName,
    sourceVersion: src.sourceVersion,
    msg,
    headers,
  };
  assertNoPersonalData(src.id, [msg, headers, message.topic], pseudonyms);
  return { message, texts };
}

/** Throws if any key or string value is a known username, or contains '@' (an e-mail). */
export function assertNoPersonalData(id: number, value: Json, pseudonyms: ReadonlyMap<string, string>): void {
  const bad = (s: string) => s.includes('@') || pseudonyms.has(s);
  const walk = (v: Json): void => {
    if (typeof v === 'string') {
      if (bad(v)) throw new Error(`message ${id}: personal data left after pseudonymization`);
    } else if (Array.isArray(v)) {
      v.forEach(walk);
    } else if (v !== null && typeof v === 'object') {
      for (const k in v) {
        if (bad(k) || (k.startsWith(USER_HEADER_PREFIX) && pseudonyms.has(k.slice(USER_HEADER_PREFIX.length)))) {
          throw new Error(`message ${id}: personal data left in a key after pseudonymization`);
        }
        walk(v[k] as Json);
      }
    }
  };
  walk(value);
}
