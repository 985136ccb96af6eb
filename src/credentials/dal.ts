// Data access of the credential leases: every statement on `credentials`, with typed rows.
// drizzle's builder where it can express the query; a typed `sql` template for the one statement
// it cannot (supersede and record in one round trip, on the credential-issue path).
import { and, desc, eq, gt, isNull, lte, sql } from 'drizzle-orm';
import type { ControlDb, ControlTx } from '../db/client.js';
import type { AdmissionFacts } from '../auth/dal.js';
import { agreementAcceptances, analysts, credentials } from '../db/schema.js';

/**
 * The admission facts of a username (analyst record, acceptance of `version`) and a lease id drawn
 * ahead of its row (the column's own sequence), in one statement: the audit event naming the id can
 * then be sent with the row's statement instead of after its answer.
 */
export async function admissionAndLeaseId(tx: ControlTx, username: string, version: string): Promise<{ facts: AdmissionFacts; leaseId: number }> {
  const result = await tx.execute<{ id: number | null; role_name: string | null; accepted_at: Date | string | null; lease_id: number }>(sql`
    SELECT a.id, a.role_name, aa.accepted_at, nextval(pg_get_serial_sequence('credentials', 'id'))::int AS lease_id
      FROM (SELECT 1) AS one
      LEFT JOIN ${analysts} a ON a.username = ${username}
      LEFT JOIN ${agreementAcceptances} aa ON aa.analyst_id = a.id AND aa.version = ${version}`);
  const row = result.rows[0]!;
  return {
    leaseId: row.lease_id,
    facts: {
      analyst: row.id !== null && row.role_name !== null ? { id: row.id, username, roleName: row.role_name } : null,
      acceptedAt: row.accepted_at === null ? null : new Date(row.accepted_at),
    },
  };
}

/** Revokes the analyst's live lease (superseded) and records the new one under `id`, in one statement. */
export async function supersedeAndRecord(tx: ControlTx, l: { id: number; analystId: number; roleName: string; issuedAt: Date; expiresAt: Date }): Promise<void> {
  await tx.execute(sql`
    WITH superseded AS (
      UPDATE ${credentials} SET revoked_at = ${l.issuedAt.toISOString()}, revoked_reason = 'superseded'
       WHERE analyst_id = ${l.analystId} AND revoked_at IS NULL
    )
    INSERT INTO ${credentials} (id, analyst_id, role_name, issued_at, expires_at)
    VALUES (${l.id}, ${l.analystId}, ${l.roleName}, ${l.issuedAt.toISOString()}, ${l.expiresAt.toISOString()})`);
}

/**
 * The newest lease neither revoked nor expired at a moment, prepared once: `GET /api/me` and the
 * start page ask on every request.
 */
export function prepareLiveLease(db: ControlDb) {
  const query = db
    .select({ id: credentials.id, roleName: credentials.roleName, issuedAt: credentials.issuedAt, expiresAt: credentials.expiresAt })
    .from(credentials)
    .where(and(eq(credentials.analystId, sql.placeholder('analystId')), isNull(credentials.revokedAt), gt(credentials.expiresAt, sql.placeholder('now'))))
    .orderBy(desc(credentials.issuedAt))
    .limit(1)
    .prepare('credential_live_lease');
  return async (analystId: number, now: Date) => {
    const [row] = await query.execute({ analystId, now: now.toISOString() });
    return row;
  };
}

/** Whether the analyst has a lease not revoked yet (expired or not). */
export async function hasUnrevokedLease(tx: ControlTx, analystId: number): Promise<boolean> {
  const rows = await tx
    .select({ id: credentials.id })
    .from(credentials)
    .where(and(eq(credentials.analystId, analystId), isNull(credentials.revokedAt)))
    .limit(1);
  return rows.length > 0;
}

/** The analyst record of a username, if the gate has seen them. */
export async function analystNamed(tx: ControlTx, username: string) {
  const [row] = await tx
    .select({ id: analysts.id, username: analysts.username, roleName: analysts.roleName })
    .from(analysts)
    .where(eq(analysts.username, username))
    .limit(1);
  return row;
}

/** Revokes every unrevoked lease of the analyst; their ids. */
export async function revokeLeasesOf(tx: ControlTx, analystId: number, at: Date, reason: string): Promise<number[]> {
  const rows = await tx
    .update(credentials)
    .set({ revokedAt: at, revokedReason: reason })
    .where(and(eq(credentials.analystId, analystId), isNull(credentials.revokedAt)))
    .returning({ id: credentials.id });
  return rows.map((r) => r.id);
}

/** Unrevoked leases expired by `now`, oldest first, locked; several sweepers share them (SKIP LOCKED). */
export function lockExpiredLeases(tx: ControlTx, now: Date, limit: number) {
  return tx
    .select({ id: credentials.id, role: credentials.roleName, expiresAt: credentials.expiresAt, username: analysts.username })
    .from(credentials)
    .innerJoin(analysts, eq(analysts.id, credentials.analystId))
    .where(and(isNull(credentials.revokedAt), lte(credentials.expiresAt, now)))
    .orderBy(credentials.expiresAt)
    .limit(limit)
    .for('update', { of: credentials, skipLocked: true });
}

export async function markLeaseExpired(tx: ControlTx, id: number, at: Date): Promise<void> {
  await tx.update(credentials).set({ revokedAt: at, revokedReason: 'expired' }).where(eq(credentials.id, id));
}
