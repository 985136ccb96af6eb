// Server-side gate sessions. The cookie carries only a random token; the row (keyed by the token's
// SHA-256, so a reader of the control database cannot replay a cookie) says who signed in, what the
// issuer last said about them and when to ask again. Ending the row ends every copy of the cookie.
import type pg from 'pg';
import { appendAudit } from '../audit/log.js';
import type { ControlDb, ControlTx } from '../db/client.js';
import { within } from '../deadline.js';
import { AppError } from '../errors.js';
import * as dal from './dal.js';
import type { Identity } from './identity.js';
import { Sealer, randomToken, sha256Hex } from './sealing.js';

/** A sign-in lasts at most this long, refreshes or not. */
export const SESSION_LIFETIME_SECONDS = 12 * 3600;

/**
 * How long ended and expired session rows are kept. The access log keeps the sign-in history, so
 * the rows are operational state holding personal data (email, groups): kept short. Long enough
 * that whyEnded can still say why a token was refused for well past a token's life (12 h at most).
 */
export const SESSION_RETENTION_SECONDS = 7 * 24 * 3600;

/** CLI sign-in rows live 10 minutes at most; a day leaves them for looking into a failed login. */
export const CLI_LOGIN_RETENTION_SECONDS = 24 * 3600;

/**
 * Rows deleted per table per sweep run: a backlog (the first run after an upgrade) drains over a
 * few runs in short statements instead of one long one; a run every minute deletes far more than
 * the gate signs in.
 */
const PRUNE_BATCH = 1000;

/** The longest a request waits for its session row (one indexed read that takes milliseconds). */
export const SESSION_READ_TIMEOUT_MS = 3_000;

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
  /** The person's analyst record and agreement acceptance, read in the same statement. */
  admission: dal.AdmissionFacts;
}

/** Rows one prune deleted. */
export interface PruneResult {
  sessions: number;
  cliLogins: number;
}

export class SessionStore {
  private readonly sealer: Sealer;

  constructor(
    private readonly db: ControlDb,
    /** The control pool under `db`: the per-request session read goes to it directly. */
    private readonly pool: pg.Pool,
    secret: string,
    /** Seconds between checks with the issuer (refresh + UserInfo). */
    private readonly refreshSeconds: number,
    /** Seconds a sign-in lasts at most, refreshes or not. */
    readonly lifetimeSeconds: number,
    /** The agreement version in force: each load also says whether its person accepted it. */
    private readonly agreementVersion: string,
  ) {
    // The refresh token is a bearer secret for the issuer: kept sealed.
    this.sealer = new Sealer(secret, 'session refresh token');
  }

  /** Starts a session; returns the token for the cookie (never stored). */
  async create(identity: Identity, refreshToken: string | undefined): Promise<{ token: string; id: string }> {
    const token = randomToken();
    const id = await sha256Hex(token);
    await dal.insertBrowserSession(this.db, {
      id,
      ...identityColumns(identity),
      refreshToken: refreshToken ? await this.seal(refreshToken, id) : null,
      refreshSeconds: this.refreshSeconds,
      lifetimeSeconds: this.lifetimeSeconds,
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
    const row = await dal.insertTokenSession(tx, { jti, parentId, clientName, ttlSeconds });
    if (!row) return null;
    return {
      jti,
      expiresAt: row.expiresAt,
      identity: { sub: row.subject, username: row.username, email: row.email, name: row.name, groups: row.groups },
    };
  }

  /**
   * Counts a wrong device code typed in this session; returns how many there were in the last
   * 10 minutes (the caller refuses more than a few: user codes are short).
   */
  async codeFailure(id: string): Promise<number> {
    return dal.countCodeFailure(this.db, id);
  }

  /** Wrong device codes typed in this session in the last 10 minutes. */
  async codeFailures(id: string): Promise<number> {
    return dal.recentCodeFailures(this.db, id);
  }

  /** Why a verified token has no live row: for the 401's message. */
  async whyEnded(jti: string): Promise<string> {
    const row = await dal.tokenEnding(this.db, jti);
    if (!row) return 'this gate has no record of it';
    if (row.reason) return ENDED_BECAUSE[row.reason as SessionEndReason] ?? 'it was ended';
    return row.expired ? 'the token has expired' : 'it was ended';
  }

  private async loadRow(id: string, kind: 'browser' | 'token'): Promise<LiveSession | null> {
    // Every signed-in request starts here: with the control database frozen it answers 503 within
    // seconds, not after the pool's query timeout (which also covers the gate's long statements).
    const read = dal.liveSession(this.pool, id, kind, this.agreementVersion);
    const row = await within(read, SESSION_READ_TIMEOUT_MS, () => new AppError('db_unavailable', 'A database the gate needs is not answering. Try again in a minute.'));
    if (!row) return null;
    const { admission, refreshDue } = row;
    return {
      id: row.id,
      refreshDue,
      admission,
      identity: { sub: row.subject, username: row.username, email: row.email, name: row.name, groups: row.groups },
    };
  }

  /**
   * Claims the due refresh for this request: of several requests that find it due at once, only
   * one gets the refresh token (the issuer may rotate it; a second use would be refused).
   */
  async claimRefresh(id: string): Promise<string | null | undefined> {
    const row = await dal.claimDueRefresh(this.db, id, this.refreshSeconds);
    if (!row) return undefined; // another request is refreshing, or it is no longer due
    return row.refreshToken ? this.open(row.refreshToken, id) : null;
  }

  /** A claimed refresh that could not reach the issuer: due again, so the next request retries. */
  async releaseRefresh(id: string): Promise<void> {
    await dal.refreshDueNow(this.db, id);
  }

  /** What the issuer said at a refresh. */
  async refreshed(id: string, identity: Identity, refreshToken: string | undefined): Promise<void> {
    await dal.updateSessionIdentity(this.db, id, identityColumns(identity), refreshToken ? await this.seal(refreshToken, id) : undefined);
  }

  /** Ends one session; returns its refresh token (to revoke at the issuer) when it was live. */
  async end(id: string, reason: SessionEndReason, actor: string): Promise<{ refreshToken: string | null } | null> {
    return this.db.transaction(async (tx) => {
      const row = await dal.lockLiveSession(tx, id);
      if (!row) return null;
      // Tokens minted through this session end with it.
      await dal.endSessionAndTokens(tx, id, reason);
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
      const ended = await dal.endLiveSessionsOf(tx, username, reason, except);
      if (ended.length > 0) {
        await appendAudit(tx, { action: 'session.ended', actor, subject: username, details: { reason, sessions: ended.length } });
      }
      return ended.length;
    });
  }

  /**
   * Deletes sign-in state past its retention: session rows ended or expired over a week ago, and
   * CLI sign-in rows (here too: they are sign-in state of the same DAL) over a day old.
   */
  async prune(): Promise<PruneResult> {
    const sessions = await dal.pruneEndedSessions(this.db, SESSION_RETENTION_SECONDS, PRUNE_BATCH);
    const cliLogins = await dal.pruneOldCliLogins(this.db, CLI_LOGIN_RETENTION_SECONDS, PRUNE_BATCH);
    return { sessions, cliLogins };
  }

  private seal(plain: string, id: string): Promise<string> {
    return this.sealer.seal(plain, id);
  }

  private open(sealed: string, id: string): Promise<string> {
    return this.sealer.open(sealed, id);
  }
}

function identityColumns(identity: Identity): dal.SessionIdentityColumns {
  return {
    username: identity.username,
    subject: identity.sub,
    email: identity.email,
    name: identity.name,
    groups: identity.groups,
  };
}
