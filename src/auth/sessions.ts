// Server-side gate sessions. The cookie carries only a random token; the row (keyed by the token's
// SHA-256, so a reader of the control database cannot replay a cookie) says who signed in, what the
// issuer last said about them and when to ask again. Ending the row ends every copy of the cookie.
import { and, eq, gt, isNull, lt, ne, sql } from 'drizzle-orm';
import { appendAudit } from '../audit/log.js';
import type { ControlDb } from '../db/client.js';
import { gateSessions } from '../db/schema.js';
import type { Identity } from './identity.js';

/** A sign-in lasts at most this long, refreshes or not. */
export const SESSION_LIFETIME_SECONDS = 12 * 3600;

export type SessionEndReason = 'logout' | 'left_fdwg' | 'admin' | 'issuer_refused' | 'expired';

export interface LiveSession {
  /** SHA-256 of the cookie token (hex): the row key, also what form tokens are bound to. */
  id: string;
  identity: Identity;
  refreshDue: boolean;
}

const enc = new TextEncoder();
const b64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const fromB64url = (s: string) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (ch) => ch.charCodeAt(0));

async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class SessionStore {
  private readonly key: Promise<CryptoKey>;
  private readonly loadQuery;

  constructor(
    private readonly db: ControlDb,
    secret: string,
    /** Seconds between checks with the issuer (refresh + UserInfo). */
    private readonly refreshSeconds: number,
    /** Seconds a sign-in lasts at most, refreshes or not. */
    readonly lifetimeSeconds: number,
  ) {
    // The refresh token is a bearer secret for the issuer: kept encrypted under a key derived
    // from SESSION_SECRET, which never sits in the control database.
    this.key = (async () => {
      const base = await crypto.subtle.importKey('raw', enc.encode(secret), 'HKDF', false, ['deriveKey']);
      return crypto.subtle.deriveKey(
        { name: 'HKDF', hash: 'SHA-256', salt: enc.encode('fdwg-access-gate'), info: enc.encode('session refresh token') },
        base,
        { name: 'AES-GCM', length: 256 },
        false,
        ['encrypt', 'decrypt'],
      );
    })();
    this.loadQuery = db
      .select({
        id: gateSessions.id,
        username: gateSessions.username,
        subject: gateSessions.subject,
        email: gateSessions.email,
        name: gateSessions.name,
        groups: gateSessions.groups,
        refreshDue: sql<boolean>`${gateSessions.refreshDueAt} <= now()`,
      })
      .from(gateSessions)
      .where(and(eq(gateSessions.id, sql.placeholder('id')), isNull(gateSessions.endedAt), gt(gateSessions.expiresAt, sql`now()`)))
      .prepare('gate_session_load');
  }

  /** Starts a session; returns the token for the cookie (never stored). */
  async create(identity: Identity, refreshToken: string | undefined): Promise<{ token: string; id: string }> {
    const token = b64url(crypto.getRandomValues(new Uint8Array(32)));
    const id = await sha256Hex(token);
    await this.db.insert(gateSessions).values({
      id,
      ...identityColumns(identity),
      refreshToken: refreshToken ? await this.seal(refreshToken, id) : null,
      refreshDueAt: sql`now() + make_interval(secs => ${this.refreshSeconds})`,
      expiresAt: sql`now() + make_interval(secs => ${this.lifetimeSeconds})`,
    });
    return { token, id };
  }

  /** The live session behind a cookie token, or null (unknown, ended or expired). */
  async load(token: string): Promise<LiveSession | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const [row] = await this.loadQuery.execute({ id: await sha256Hex(token) });
    if (!row) return null;
    return {
      id: row.id,
      refreshDue: row.refreshDue,
      identity: { sub: row.subject, username: row.username, email: row.email, name: row.name, groups: row.groups },
    };
  }

  /**
   * Claims the due refresh for this request: of several requests that find it due at once, only
   * one gets the refresh token (the issuer may rotate it; a second use would be refused).
   */
  async claimRefresh(id: string): Promise<string | null | undefined> {
    const [row] = await this.db
      .update(gateSessions)
      .set({ refreshDueAt: sql`now() + make_interval(secs => ${this.refreshSeconds})` })
      .where(and(eq(gateSessions.id, id), isNull(gateSessions.endedAt), lt(gateSessions.refreshDueAt, sql`now()`)))
      .returning({ refreshToken: gateSessions.refreshToken });
    if (!row) return undefined; // another request is refreshing, or it is no longer due
    return row.refreshToken ? this.open(row.refreshToken, id) : null;
  }

  /** A claimed refresh that could not reach the issuer: due again, so the next request retries. */
  async releaseRefresh(id: string): Promise<void> {
    await this.db.update(gateSessions).set({ refreshDueAt: sql`now()` }).where(eq(gateSessions.id, id));
  }

  /** What the issuer said at a refresh. */
  async refreshed(id: string, identity: Identity, refreshToken: string | undefined): Promise<void> {
    await this.db
      .update(gateSessions)
      .set({ ...identityColumns(identity), ...(refreshToken ? { refreshToken: await this.seal(refreshToken, id) } : {}) })
      .where(eq(gateSessions.id, id));
  }

  /** Ends one session; returns its refresh token (to revoke at the issuer) when it was live. */
  async end(id: string, reason: SessionEndReason, actor: string): Promise<{ refreshToken: string | null } | null> {
    return this.db.transaction(async (tx) => {
      const [row] = await tx
        .select({ username: gateSessions.username, refreshToken: gateSessions.refreshToken })
        .from(gateSessions)
        .where(and(eq(gateSessions.id, id), isNull(gateSessions.endedAt)))
        .for('update');
      if (!row) return null;
      await tx.update(gateSessions).set({ endedAt: sql`now()`, endedReason: reason, refreshToken: null }).where(eq(gateSessions.id, id));
      // Signing out is its own event (`logout`), in the same transaction as the change it records.
      await appendAudit(tx, reason === 'logout'
        ? { action: 'logout', actor, subject: row.username }
        : { action: 'session.ended', actor, subject: row.username, details: { reason, sessions: 1 } });
      return { refreshToken: row.refreshToken ? await this.open(row.refreshToken, id).catch(() => null) : null };
    });
  }

  /** Ends every live session of a person (but `except`); returns how many ended. */
  async endAllFor(username: string, reason: SessionEndReason, actor: string, except?: string): Promise<number> {
    return this.db.transaction(async (tx) => {
      const ended = await tx
        .update(gateSessions)
        .set({ endedAt: sql`now()`, endedReason: reason, refreshToken: null })
        .where(and(eq(gateSessions.username, username), isNull(gateSessions.endedAt), except ? ne(gateSessions.id, except) : undefined))
        .returning({ id: gateSessions.id });
      if (ended.length > 0) {
        await appendAudit(tx, { action: 'session.ended', actor, subject: username, details: { reason, sessions: ended.length } });
      }
      return ended.length;
    });
  }

  private async seal(plain: string, id: string): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    // The row id is the additional data: a sealed token copied to another row does not open.
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: enc.encode(id) }, await this.key, enc.encode(plain)),
    );
    return `${b64url(iv)}.${b64url(sealed)}`;
  }

  private async open(sealed: string, id: string): Promise<string> {
    const [iv = '', body = ''] = sealed.split('.');
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: fromB64url(iv), additionalData: enc.encode(id) },
      await this.key,
      fromB64url(body),
    );
    return new TextDecoder().decode(plain);
  }
}

function identityColumns(identity: Identity) {
  return {
    username: identity.username,
    subject: identity.sub,
    email: identity.email,
    name: identity.name,
    groups: identity.groups,
  };
}
