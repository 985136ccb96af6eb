// The reconciler's statements on the control database: what the gate holds (analysts, live
// credentials, live PII grants) and the credential leases a password drift ends. Warehouse catalog
// reads and role DDL stay in inspect.ts and the provisioner (quoted SQL on the warehouse pool).
import { and, asc, eq, gt, inArray, isNull, sql } from 'drizzle-orm';
import type { ControlDb, ControlTx } from '../db/client.js';
import { analysts, credentials, piiGrants } from '../db/schema.js';

export interface AnalystRow {
  username: string;
  role: string;
  live: boolean;
  datasets: string[];
}

/** Every analyst with whether a credential is live and which PII datasets are granted now. */
export function analystsWithAccess(db: ControlDb): Promise<AnalystRow[]> {
  const live = db
    .select({ one: sql`1` })
    .from(credentials)
    .where(and(eq(credentials.analystId, analysts.id), isNull(credentials.revokedAt), gt(credentials.expiresAt, sql`now()`)));
  const datasets = db
    .select({ dataset: piiGrants.dataset })
    .from(piiGrants)
    .where(and(eq(piiGrants.analystId, analysts.id), isNull(piiGrants.endedAt), gt(piiGrants.expiresAt, sql`now()`)))
    .orderBy(asc(piiGrants.dataset));
  return db
    .select({
      username: analysts.username,
      role: analysts.roleName,
      live: sql<boolean>`EXISTS (${live})`,
      datasets: sql<string[]>`ARRAY(${datasets})`,
    })
    .from(analysts)
    .orderBy(asc(analysts.roleName));
}

/** Ends the live leases of roles whose password was changed outside the gate. */
export async function revokeLeasesOfRoles(tx: ControlTx, roles: string[], reason: string): Promise<void> {
  if (roles.length === 0) return;
  await tx
    .update(credentials)
    .set({ revokedAt: sql`now()`, revokedReason: reason })
    .where(and(inArray(credentials.roleName, roles), isNull(credentials.revokedAt)));
}
