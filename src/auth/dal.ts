// Data access of sign-in state: every statement on gate_sessions, token_signing_keys and
// cli_logins, with typed rows. drizzle's builder where it can express the query; typed `sql`
// templates where it cannot (INSERT ... SELECT from the parent session, an UPDATE whose RETURNING
// reads the row before it, CASE arithmetic on the device-code counter); one raw prepared statement
// on the pool for the read every request makes (liveSession). The rules (who may, for how
// long, what is audited) stay in sessions.ts, tokens.ts and cli-login.ts.
import { and, count, desc, eq, gt, inArray, isNull, lt, ne, or, sql } from 'drizzle-orm';
import type pg from 'pg';
import type { ControlDb, ControlTx } from '../db/client.js';
import { cliLogins, gateSessions, tokenSigningKeys } from '../db/schema.js';

// --- Sessions (browser and token) --------------------------------------------------------------

/** The identity columns a session keeps (what the issuer last said). */
export interface SessionIdentityColumns {
  username: string;
  subject: string;
  email: string | null;
  name: string | null;
  groups: string[];
}

/**
 * What the control database says about the person's admission, read with the session: their
 * analyst record (null when the gate has none) and when they accepted the current agreement.
 */
export interface AdmissionFacts {
  analyst: { id: number; username: string; roleName: string } | null;
  acceptedAt: Date | null;
  /** The analyst's newest lease neither revoked nor expired; undefined when not read with the facts. */
  liveLease?: { id: number; roleName: string; issuedAt: Date; expiresAt: Date } | null;
}

/** A live session row as every request reads it, with the admission facts of its person. */
export interface LiveSessionRow extends SessionIdentityColumns {
  id: string;
  refreshDue: boolean;
  admission: AdmissionFacts;
}

export type SessionKind = 'browser' | 'token';

/**
 * The read every signed-in request makes: the live session of an id and kind (not ended, not
 * expired) and, in the same statement, its person's analyst record, acceptance of the agreement in
 * force and newest live credential lease (credentials_analyst index). A raw prepared statement on
 * the pool, not the query builder: it is the one statement on the path of every request, and
 * drizzle's execute path (its tracing wrapper, per-column mapping) showed in the profile of
 * `GET /api/me` (issue 14, P2).
 */
const LIVE_SESSION: Omit<pg.QueryConfig, 'values'> = {
  name: 'gate_session_live',
  text: `SELECT s.id, s.username, s.subject, s.email, s.name, s.groups, s.refresh_due_at <= now() AS refresh_due,
      a.id AS analyst_id, a.role_name, acc.accepted_at,
      l.id AS lease_id, l.issued_at AS lease_issued_at, l.expires_at AS lease_expires_at, l.role_name AS lease_role
    FROM gate_sessions s
    LEFT JOIN analysts a ON a.username = s.username
    LEFT JOIN agreement_acceptances acc ON acc.analyst_id = a.id AND acc.version = $3
    LEFT JOIN LATERAL (
      SELECT c.id, c.issued_at, c.expires_at, c.role_name FROM credentials c
      WHERE c.analyst_id = a.id AND c.revoked_at IS NULL AND c.expires_at > now()
      ORDER BY c.issued_at DESC LIMIT 1
    ) l ON true
    WHERE s.id = $1 AND s.kind = $2 AND s.ended_at IS NULL AND s.expires_at > now()`,
};

/** A row of LIVE_SESSION as node-postgres parses it (timestamptz as Date, jsonb parsed). */
interface LiveSessionColumns {
  id: string;
  username: string;
  subject: string;
  email: string | null;
  name: string | null;
  groups: string[];
  refresh_due: boolean;
  analyst_id: number | null;
  role_name: string | null;
  accepted_at: Date | null;
  lease_id: number | null;
  lease_issued_at: Date | null;
  lease_expires_at: Date | null;
  lease_role: string | null;
}

/** Sends the live-session read; the caller bounds the wait (it is every request's first statement). */
export async function liveSession(pool: pg.Pool, id: string, kind: SessionKind, agreementVersion: string): Promise<LiveSessionRow | undefined> {
  const { rows } = await pool.query<LiveSessionColumns>({ ...LIVE_SESSION, values: [id, kind, agreementVersion] });
  const row = rows[0];
  if (!row) return undefined;
  const analyst = row.analyst_id !== null && row.role_name !== null ? { id: row.analyst_id, username: row.username, roleName: row.role_name } : null;
  const liveLease =
    row.lease_id !== null && row.lease_issued_at && row.lease_expires_at && row.lease_role !== null
      ? { id: row.lease_id, roleName: row.lease_role, issuedAt: row.lease_issued_at, expiresAt: row.lease_expires_at }
      : null;
  return {
    id: row.id,
    username: row.username,
    subject: row.subject,
    email: row.email,
    name: row.name,
    groups: row.groups,
    refreshDue: row.refresh_due,
    admission: { analyst, acceptedAt: row.accepted_at, liveLease },
  };
}

export async function insertBrowserSession(
  tx: ControlTx,
  s: SessionIdentityColumns & { id: string; refreshToken: string | null; refreshSeconds: number; lifetimeSeconds: number },
): Promise<void> {
  await tx.insert(gateSessions).values({
    id: s.id,
    username: s.username,
    subject: s.subject,
    email: s.email,
    name: s.name,
    groups: s.groups,
    refreshToken: s.refreshToken,
    refreshDueAt: sql`now() + make_interval(secs => ${s.refreshSeconds})`,
    expiresAt: sql`now() + make_interval(secs => ${s.lifetimeSeconds})`,
  });
}

/**
 * A token row copying a live browser session's identity (INSERT ... SELECT from the parent, so a
 * parent ended meanwhile gives nothing); the copied identity and the expiry, or undefined.
 */
export async function insertTokenSession(
  tx: ControlTx,
  t: { jti: string; parentId: string; clientName: string; ttlSeconds: number },
): Promise<(SessionIdentityColumns & { expiresAt: Date }) | undefined> {
  const result = await tx.execute<{ username: string; subject: string; email: string | null; name: string | null; groups: string[]; expires_at: Date | string }>(sql`
    INSERT INTO gate_sessions (id, kind, parent_id, client_name, username, subject, email, name, groups, refresh_due_at, expires_at)
    SELECT ${t.jti}, 'token', p.id, ${t.clientName}, p.username, p.subject, p.email, p.name, p.groups,
           'infinity', now() + make_interval(secs => ${t.ttlSeconds})
      FROM gate_sessions p
     WHERE p.id = ${t.parentId} AND p.kind = 'browser' AND p.ended_at IS NULL AND p.expires_at > now()
    RETURNING username, subject, email, name, groups, expires_at`);
  const row = result.rows[0];
  if (!row) return undefined;
  return { username: row.username, subject: row.subject, email: row.email, name: row.name, groups: row.groups, expiresAt: new Date(row.expires_at) };
}

/** Counts one wrong device code (the count restarts after 10 minutes); the count now. */
export async function countCodeFailure(tx: ControlTx, id: string): Promise<number> {
  const result = await tx.execute<{ n: number }>(sql`
    UPDATE gate_sessions
       SET code_failures = CASE WHEN code_failures_since > now() - interval '10 minutes' THEN code_failures + 1 ELSE 1 END,
           code_failures_since = CASE WHEN code_failures_since > now() - interval '10 minutes' THEN code_failures_since ELSE now() END
     WHERE id = ${id}
    RETURNING code_failures AS n`);
  return result.rows[0]?.n ?? 0;
}

/** Wrong device codes of the last 10 minutes. */
export async function recentCodeFailures(tx: ControlTx, id: string): Promise<number> {
  const [row] = await tx
    .select({ n: sql<number>`CASE WHEN ${gateSessions.codeFailuresSince} > now() - interval '10 minutes' THEN ${gateSessions.codeFailures} ELSE 0 END` })
    .from(gateSessions)
    .where(eq(gateSessions.id, id));
  return row?.n ?? 0;
}

/** A token row's end reason and whether it has expired, live or not. */
export async function tokenEnding(tx: ControlTx, jti: string): Promise<{ reason: string | null; expired: boolean } | undefined> {
  const [row] = await tx
    .select({ reason: gateSessions.endedReason, expired: sql<boolean>`${gateSessions.expiresAt} <= now()` })
    .from(gateSessions)
    .where(and(eq(gateSessions.id, jti), eq(gateSessions.kind, 'token')));
  return row;
}

/**
 * Moves a due refresh `refreshSeconds` ahead for this caller only; its sealed refresh token, or
 * undefined when the session is ended or the refresh is not due (another request claimed it).
 */
export async function claimDueRefresh(tx: ControlTx, id: string, refreshSeconds: number): Promise<{ refreshToken: string | null } | undefined> {
  const [row] = await tx
    .update(gateSessions)
    .set({ refreshDueAt: sql`now() + make_interval(secs => ${refreshSeconds})` })
    .where(and(eq(gateSessions.id, id), isNull(gateSessions.endedAt), lt(gateSessions.refreshDueAt, sql`now()`)))
    .returning({ refreshToken: gateSessions.refreshToken });
  return row;
}

export async function refreshDueNow(tx: ControlTx, id: string): Promise<void> {
  await tx.update(gateSessions).set({ refreshDueAt: sql`now()` }).where(eq(gateSessions.id, id));
}

/** What the issuer said at a refresh; a new sealed refresh token when it rotated one. */
export async function updateSessionIdentity(tx: ControlTx, id: string, identity: SessionIdentityColumns, sealedRefreshToken?: string): Promise<void> {
  await tx
    .update(gateSessions)
    .set({ ...identity, ...(sealedRefreshToken ? { refreshToken: sealedRefreshToken } : {}) })
    .where(eq(gateSessions.id, id));
}

/** A live session, locked for ending it. */
export async function lockLiveSession(tx: ControlTx, id: string): Promise<{ username: string; refreshToken: string | null } | undefined> {
  const [row] = await tx
    .select({ username: gateSessions.username, refreshToken: gateSessions.refreshToken })
    .from(gateSessions)
    .where(and(eq(gateSessions.id, id), isNull(gateSessions.endedAt)))
    .for('update');
  return row;
}

/** Ends one session (dropping its refresh token) and the live tokens minted through it. */
export async function endSessionAndTokens(tx: ControlTx, id: string, reason: string): Promise<void> {
  await tx.update(gateSessions).set({ endedAt: sql`now()`, endedReason: reason, refreshToken: null }).where(eq(gateSessions.id, id));
  await tx
    .update(gateSessions)
    .set({ endedAt: sql`now()`, endedReason: reason })
    .where(and(eq(gateSessions.parentId, id), isNull(gateSessions.endedAt)));
}

/** Ends every live session of a person but `except`; their ids. */
export async function endLiveSessionsOf(tx: ControlTx, username: string, reason: string, except?: string): Promise<string[]> {
  const rows = await tx
    .update(gateSessions)
    .set({ endedAt: sql`now()`, endedReason: reason, refreshToken: null })
    .where(and(eq(gateSessions.username, username), isNull(gateSessions.endedAt), except ? ne(gateSessions.id, except) : undefined))
    .returning({ id: gateSessions.id });
  return rows.map((r) => r.id);
}

/**
 * Deletes up to `batch` session rows (browser and token alike) that ended or expired more than
 * `keepSeconds` ago; how many. There is no foreign key on parent_id and nothing reads a token's
 * parent after minting, so a token row outliving its pruned parent is harmless (and cannot be live:
 * a token lives far shorter than the retention). No index covers these columns: the sweep's
 * sequential scan of a table this small is cheaper than maintaining one on every sign-in.
 */
export async function pruneEndedSessions(db: ControlDb, keepSeconds: number, batch: number): Promise<number> {
  const cutoff = sql`now() - make_interval(secs => ${keepSeconds})`;
  const due = db
    .select({ id: gateSessions.id })
    .from(gateSessions)
    .where(or(lt(gateSessions.endedAt, cutoff), lt(gateSessions.expiresAt, cutoff)))
    .limit(batch);
  const rows = await db.delete(gateSessions).where(inArray(gateSessions.id, due)).returning({ id: gateSessions.id });
  return rows.length;
}

// --- Token signing keys ------------------------------------------------------------------------

/** The newest key that signs (not retired), and whether it is older than `rotateAfterSeconds`. */
export async function newestSigningKey(tx: ControlTx, rotateAfterSeconds: number): Promise<{ kid: string; privateJwk: string; old: boolean } | undefined> {
  const [row] = await tx
    .select({
      kid: tokenSigningKeys.kid,
      privateJwk: tokenSigningKeys.privateJwk,
      old: sql<boolean>`${tokenSigningKeys.createdAt} < now() - make_interval(secs => ${rotateAfterSeconds})`,
    })
    .from(tokenSigningKeys)
    .where(isNull(tokenSigningKeys.retireAt))
    .orderBy(desc(tokenSigningKeys.createdAt))
    .limit(1);
  return row;
}

/** Keys that still verify: the signing one and those not retired yet. */
export function verifyingKeys(tx: ControlTx): Promise<{ kid: string; publicJwk: Record<string, unknown> }[]> {
  return tx
    .select({ kid: tokenSigningKeys.kid, publicJwk: tokenSigningKeys.publicJwk })
    .from(tokenSigningKeys)
    .where(or(isNull(tokenSigningKeys.retireAt), gt(tokenSigningKeys.retireAt, sql`now()`)));
}

/** Retires the signing key(s) after `graceSeconds` and adds the new one, in one transaction. */
export async function rotateSigningKey(db: ControlDb, k: { kid: string; publicJwk: Record<string, unknown>; sealedPrivateJwk: string; graceSeconds: number }): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .update(tokenSigningKeys)
      .set({ retireAt: sql`now() + make_interval(secs => ${k.graceSeconds})` })
      .where(isNull(tokenSigningKeys.retireAt));
    await tx.insert(tokenSigningKeys).values({ kid: k.kid, publicJwk: k.publicJwk, privateJwk: k.sealedPrivateJwk });
  });
}

// --- CLI sign-ins --------------------------------------------------------------------------------

/** Device sign-ins started in the last minute, all callers together. */
export async function deviceStartsLastMinute(tx: ControlTx): Promise<number> {
  const [row] = await tx
    .select({ n: count() })
    .from(cliLogins)
    .where(and(eq(cliLogins.kind, 'device'), gt(cliLogins.createdAt, sql`now() - interval '1 minute'`)));
  return row?.n ?? 0;
}

/** A pending device sign-in; false when its user code clashes with a pending one. */
export async function insertDeviceLogin(tx: ControlTx, d: { id: string; userCode: string; clientName: string; ttlSeconds: number }): Promise<boolean> {
  const inserted = await tx
    .insert(cliLogins)
    .values({ id: d.id, kind: 'device', userCode: d.userCode, clientName: d.clientName, expiresAt: sql`now() + make_interval(secs => ${d.ttlSeconds})` })
    .onConflictDoNothing()
    .returning({ id: cliLogins.id });
  return inserted.length > 0;
}

/** A pending, unexpired device sign-in by its (normalized) user code. */
export async function pendingDeviceLogin(tx: ControlTx, userCode: string): Promise<{ clientName: string | null; requestedAt: Date; minutesAgo: number } | undefined> {
  const [row] = await tx
    .select({
      clientName: cliLogins.clientName,
      requestedAt: cliLogins.createdAt,
      minutesAgo: sql<number>`floor(extract(epoch FROM now() - ${cliLogins.createdAt}) / 60)::int`,
    })
    .from(cliLogins)
    .where(and(eq(cliLogins.userCode, userCode), eq(cliLogins.status, 'pending'), gt(cliLogins.expiresAt, sql`now()`)));
  return row;
}

/** Decides a pending, unexpired device sign-in; undefined when there is none with that code. */
export async function decideDeviceLogin(tx: ControlTx, userCode: string, status: 'approved' | 'denied', sessionId: string): Promise<{ clientName: string | null } | undefined> {
  const [row] = await tx
    .update(cliLogins)
    .set({ status, sessionId })
    .where(and(eq(cliLogins.kind, 'device'), eq(cliLogins.userCode, userCode), eq(cliLogins.status, 'pending'), gt(cliLogins.expiresAt, sql`now()`)))
    .returning({ clientName: cliLogins.clientName });
  return row;
}

export async function insertLoopbackLogin(
  tx: ControlTx,
  l: { id: string; codeChallenge: string; redirectUri: string; clientName: string; sessionId: string; ttlSeconds: number },
): Promise<void> {
  await tx.insert(cliLogins).values({
    id: l.id,
    kind: 'loopback',
    codeChallenge: l.codeChallenge,
    redirectUri: l.redirectUri,
    clientName: l.clientName,
    status: 'approved',
    sessionId: l.sessionId,
    expiresAt: sql`now() + make_interval(secs => ${l.ttlSeconds})`,
  });
}

/** Uses an approved, unexpired loopback code once; what it was bound to, or undefined. */
export async function useLoopbackLogin(
  tx: ControlTx,
  id: string,
): Promise<{ challenge: string | null; redirectUri: string | null; sessionId: string | null; clientName: string | null } | undefined> {
  const [row] = await tx
    .update(cliLogins)
    .set({ status: 'used' })
    .where(and(eq(cliLogins.id, id), eq(cliLogins.kind, 'loopback'), eq(cliLogins.status, 'approved'), gt(cliLogins.expiresAt, sql`now()`)))
    .returning({ challenge: cliLogins.codeChallenge, redirectUri: cliLogins.redirectUri, sessionId: cliLogins.sessionId, clientName: cliLogins.clientName });
  return row;
}

export interface DevicePoll {
  status: string;
  expired: boolean;
  /** The previous poll was less than `pollSeconds` (minus a little slack) ago. */
  tooSoon: boolean;
  sessionId: string | null;
  clientName: string | null;
}

/** Records a poll of a device sign-in and says what it found (RETURNING reads the previous poll time). */
export async function pollDeviceLogin(tx: ControlTx, id: string, pollSeconds: number): Promise<DevicePoll | undefined> {
  const result = await tx.execute<{ status: string; expired: boolean; too_soon: boolean | null; session_id: string | null; client_name: string | null }>(sql`
    WITH before AS (SELECT last_poll_at FROM cli_logins WHERE id = ${id} AND kind = 'device')
    UPDATE cli_logins SET last_poll_at = now()
     WHERE id = ${id} AND kind = 'device'
    RETURNING status, expires_at <= now() AS expired,
              (SELECT last_poll_at FROM before) > now() - make_interval(secs => ${pollSeconds}) + interval '200 milliseconds' AS too_soon,
              session_id, client_name`);
  const row = result.rows[0];
  if (!row) return undefined;
  return { status: row.status, expired: row.expired, tooSoon: row.too_soon === true, sessionId: row.session_id, clientName: row.client_name };
}

/** Marks an approved device sign-in used; false when it was used already. */
export async function useApprovedDeviceLogin(tx: ControlTx, id: string): Promise<boolean> {
  const rows = await tx
    .update(cliLogins)
    .set({ status: 'used' })
    .where(and(eq(cliLogins.id, id), eq(cliLogins.status, 'approved')))
    .returning({ id: cliLogins.id });
  return rows.length > 0;
}

/**
 * Deletes up to `batch` CLI sign-ins created more than `keepSeconds` ago (cli_logins_created) and
 * expired: every use of a code first checks expires_at, so an expired row, whatever its status,
 * can never be used again; the expiry test keeps that true even if a code's lifetime grew past the
 * retention. How many.
 */
export async function pruneOldCliLogins(db: ControlDb, keepSeconds: number, batch: number): Promise<number> {
  const due = db
    .select({ id: cliLogins.id })
    .from(cliLogins)
    .where(and(lt(cliLogins.createdAt, sql`now() - make_interval(secs => ${keepSeconds})`), lt(cliLogins.expiresAt, sql`now()`)))
    .limit(batch);
  const rows = await db.delete(cliLogins).where(inArray(cliLogins.id, due)).returning({ id: cliLogins.id });
  return rows.length;
}
