// PLACEHOLDER (written for the auditor pages; the pgaudit owner replaces this file).
// Says whether PostgreSQL itself logs PII reads: pgaudit must be preloaded and its object-audit
// role must be the gate's PII audit role. Never throws: an unreachable warehouse is "not available".
import type pg from 'pg';

export interface PgauditStatus {
  available: boolean;
  role: string | null;
  detail: string;
}

export async function pgauditStatus(warehouse: pg.Pool, expectedRole: string): Promise<PgauditStatus> {
  try {
    const { rows } = await warehouse.query<{ preload: string; role: string | null }>(
      `SELECT current_setting('shared_preload_libraries') AS preload, current_setting('pgaudit.role', true) AS role`,
    );
    const preload = rows[0]?.preload ?? '';
    const role = rows[0]?.role || null;
    if (!/(^|,)\s*pgaudit\s*(,|$)/.test(preload)) {
      return {
        available: false,
        role,
        detail:
          'pgaudit is not installed on this PostgreSQL server (it is not in shared_preload_libraries), so reads of PII tables are not logged by PostgreSQL. The gate still logs its own actions.',
      };
    }
    if (role !== expectedRole) {
      return {
        available: false,
        role,
        detail: `pgaudit is loaded, but pgaudit.role is ${role ? `"${role}"` : 'not set'} instead of "${expectedRole}", so reads of PII tables are not logged.`,
      };
    }
    return { available: true, role, detail: `pgaudit is active: reads of PII tables are logged through the role "${role}".` };
  } catch (err) {
    return {
      available: false,
      role: null,
      detail: `The pgaudit status could not be read from the warehouse (${(err as Error).message.slice(0, 120)}).`,
    };
  }
}
