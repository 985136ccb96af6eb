// Server-side gate sessions. The cookie carries only a random token; the row (keyed by the token's
// SHA-256, so a reader of the control database cannot replay a cookie) says who signed in, what the
// issuer last said about them and when to ask again. Ending the row ends every copy of the cookie.
import { and, eq, gt, isNull, lt, ne, sql } from 'drizzle-orm';
import { appendAudit } from '../audit/log.js';
import type { ControlDb, ControlTx } from '../db/client.js';
import { gateSessions } from '../db/schema.js';
import type { Identity } from './identity.js';
import { Sealer, randomToken, sha256Hex } from './sealing.js';

/** A sign-in lasts at most this long, refreshes or not. */
export const SESSION_LIFETIME_SECONDS = 12 * 3600;

export type SessionEndReason = 'logout' | 'left_fdwg' | 'admin' | 'issuer_refused' | 'expired';

const ENDED_BECAUSE: Record<SessionEndReason, string> = {
  logout: 'it was signed out (fdwg logout, or a sign-out of the browser session that approved it)',
  left_fdwg: 'its owner is no longer an FDWG member',
  admin: 'an admin ended its owner\'s sessions',
  issuer_refused: 'the identity provider ended the sign-in it came from',
  expired: 'the token has expired',
};

export interface LiveSession {
  /** SHA-256 of the cookie token (hex): the row key, also what form tokens are bound to. */
  id: string;
  identity: Identity;
  refreshDue: boolean;
}

export class SessionStore {
  private readonly sealer: Sealer;
  private readonly loadQuery;

  constructor(
    private readonly db: ControlDb,
    secret: string,
    /** Seconds between checks with the issuer (refresh + UserInfo). */
    private readonly refreshSeconds: number,
    /** Seconds a sign-in lasts at most, refreshes or not. */
    readonly lifetimeSeconds: number,
  ) {
    // The refresh token is a bearer secret for the issuer: kept sealed.
    this.sealer = new Sealer(secret, 'session refresh token');
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
      .where(
        and(
          eq(gateSessions.id, sql.placeholder('id')),
          eq(gateSessions.kind, sql.placeholder('kind')),
          isNull(gateSessions.endedAt),
          gt(gateSessions.expiresAt, sql`now()`),
        ),
      )
      .prepare('gate_session_load');
  }

  /** Starts a session; returns the token for the cookie (never stored). */
  async create(identity: Identity, refreshToken: string | undefined): Promise<{ token: string; id: string }> {
    const token = randomToken();
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
    return this.loadRow(await sha256Hex(token), 'browser');
  }

  /** The live token session of a verified gate token's jti, or null (revoked, ended, expired). */
  loadToken(jti: string): Promise<LiveSession | null> {
    return this.loadRow(jti, 'token');
  }

  /**
   * A gate token for a command line, minted from a live browser session: it copies that
   * session's identity, dies with it (sign-out there), and is its own row (`fdwg logout`).
   */
  async createToken(tx: ControlTx, parentId: string, clientName: string, ttlSeconds: number): Promise<{ jti: string; identity: Identity; expiresAt: Date } | null> {
    const jti = randomToken();
    const [row] = await tx.execute<{ username: string; subject: string; email: string | null; name: string | null; groups: string[]; expires_at: Date }>(sql`
      INSERT INTO gate_sessions (id, kind, parent_id, client_name, username, subject, email, name, groups, refresh_due_at, expires_at)
      SELECT ${jti}, 'token', p.id, ${clientName}, p.username, p.subject, p.email, p.name, p.groups,
             'infinity', now() + make_interval(secs => ${ttlSeconds})
        FROM gate_sessions p
       WHERE p.id = ${parentId} AND p.kind = 'browser' AND p.ended_at IS NULL AND p.expires_at > now()
      RETURNING username, subject, email, name, groups, expires_at`).then((r) => r.rows);
    if (!row) return null;
    return {
      jti,
      expiresAt: new Date(row.expires_at),
      identity: { sub: row.subject, username: row.username, email: row.email, name: row.name, groups: row.groups },
    };
  }

  /**
   * Counts a wrong device code typed in this session; returns how many there were in the last
   * 10 minutes (the caller refuses more than a few: user codes are short).
   */
  async codeFailure(id: string): Promise<number> {
    const [row] = await this.db.execute<{ n: number }>(sql`
      UPDATE gate_sessions
         SET code_failures = CASE WHEN code_failures_since > now() - interval '10 minutes' THEN code_failures + 1 ELSE 1 END,
             code_failures_since = CASE WHEN code_failures_since > now() - interval '10 minutes' THEN code_failures_since ELSE now() END
       WHERE id = ${id}
      RETURNING code_failures AS n`).then((r) => r.rows);
    return row?.n ?? 0;
  }

  /** Wrong device codes typed in this session in the last 10 minutes. */
  async codeFailures(id: string): Promise<number> {
    const [row] = await this.db.execute<{ n: number }>(sql`
      SELECT CASE WHEN code_failures_since > now() - interval '10 minutes' THEN code_failures ELSE 0 END AS n
        FROM gate_sessions WHERE id = ${id}`).then((r) => r.rows);
    return row?.n ?? 0;
  }

  /** Why a verified token has no live row: for the 401's message. */
  async whyEnded(jti: string): Promise<string> {
    const [row] = await this.db
      .select({ reason: gateSessions.endedReason, expired: sql<boolean>`${gateSessions.expiresAt} <= now()` })
      .from(gateSessions)
      .where(and(eq(gateSessions.id, jti), eq(gateSessions.kind, 'token')));
    if (!row) return 'this gate has no record of it';
    if (row.reason) return ENDED_BECAUSE[row.reason as SessionEndReason] ?? 'it was ended';
    return row.expired ? 'the token has expired' : 'it was ended';
  }

  private async loadRow(id: string, kind: 'browser' | 'token'): Promise<LiveSession | null> {
    const [row] = await this.loadQuery.execute({ id, kind });
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
      // Tokens minted through this session end with it.
      await tx
        .update(gateSessions)
        .set({ endedAt: sql`now()`, endedReason: reason })
        .where(and(eq(gateSessions.parentId, id), isNull(gateSessions.endedAt)));
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

  private seal(plain: string, id: string): Promise<string> {
    return this.sealer.seal(plain, id);
  }

  private open(sealed: string, id: string): Promise<string> {
    return this.sealer.open(sealed, id);
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
