// Statement-level audit of PII reads by pgaudit, inside PostgreSQL: whether it is active, the log
// line parser, and retention of the recorded statement text. Runtime-agnostic (the auditor pages
// and /healthz use it on Node and Workers); the Node-only ingester of the log files is
// ./pgaudit-ingest.ts.
//
// Object audit: with `pgaudit.role = <prefix>pii_audit` on the warehouse database, PostgreSQL logs
// every statement that uses a privilege the audit role holds on a relation. That role holds SELECT
// on exactly the PII tables, so every statement reading a PII table is logged, with the login role.
import type pg from 'pg';
import type { ControlDb } from '../db/client.js';
import { blankStatementText } from './dal.js';
import { appendAudit } from './log.js';

export { type PgauditRecord, parseJsonLogLine } from './pgaudit-log.js';

export interface PgauditStatus {
  available: boolean;
  role: string | null;
  /** One plain sentence for the auditor pages and /healthz. */
  detail: string;
  /** PII tables the audit role cannot SELECT: reads of those are not logged (when checked). */
  uncovered?: string[];
}

const NOT_RECORDED = 'PII reads are NOT recorded statement by statement.';

/**
 * Asks the warehouse (as the gate's own login) whether pgaudit records PII reads. The gate login
 * is not a superuser and may not read shared_preload_libraries, so "loaded" is judged by pgaudit's
 * own settings in pg_settings: they exist only when the library is loaded (a value set by ALTER
 * DATABASE without the library is a placeholder, which current_setting() shows but pg_settings
 * does not). Never throws: anything unclear is reported as not available.
 */
export async function pgauditStatus(
  warehouse: pg.Pool | pg.ClientBase,
  expectedRole: string,
  opts: { piiSchemas?: string[] } = {},
): Promise<PgauditStatus> {
  let settings: Map<string, string>;
  try {
    const { rows } = await warehouse.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('pgaudit.role', 'pgaudit.log_statement')`,
    );
    settings = new Map(rows.map((r) => [r.name, r.setting]));
  } catch {
    // The reason goes nowhere public: /healthz is unauthenticated.
    return { available: false, role: null, detail: `The warehouse could not be asked whether pgaudit is loaded: assume ${NOT_RECORDED}` };
  }
  if (!settings.has('pgaudit.role')) {
    return {
      available: false,
      role: null,
      detail: `pgaudit is not loaded on the warehouse server (it is not in shared_preload_libraries; the embedded demo cluster has no pgaudit): ${NOT_RECORDED}`,
    };
  }
  const role = settings.get('pgaudit.role') || null;
  if (role !== expectedRole) {
    return {
      available: false,
      role,
      detail: `pgaudit is loaded, but pgaudit.role on the warehouse database is ${role ? `"${role}"` : 'not set'} instead of "${expectedRole}": ${NOT_RECORDED}`,
    };
  }
  const notes: string[] = [];
  if (settings.get('pgaudit.log_statement') === 'off') {
    notes.push('pgaudit.log_statement is off, so the statement text is not in the log (only the tables read)');
  }
  let uncovered: string[] | undefined;
  if (opts.piiSchemas?.length) {
    try {
      uncovered = await uncoveredTables(warehouse, expectedRole, opts.piiSchemas);
    } catch {
      return { available: false, role, detail: `pgaudit is loaded, but whether "${expectedRole}" covers the PII tables could not be checked: assume ${NOT_RECORDED}` };
    }
    if (uncovered.length) {
      notes.push(`the audit role lacks SELECT on ${uncovered.join(', ')}, so reads of ${uncovered.length === 1 ? 'that table are' : 'those tables are'} NOT recorded`);
    }
  }
  return {
    available: true,
    role,
    detail:
      `pgaudit is active: every statement that reads a PII table is logged by PostgreSQL with the login role (audit role "${role}").` +
      (notes.length ? ` But ${notes.join('; and ')}.` : ''),
    ...(uncovered ? { uncovered } : {}),
  };
}

/** Tables, views and partitions in the PII schemas that the audit role cannot SELECT. */
async function uncoveredTables(warehouse: pg.Pool | pg.ClientBase, auditRole: string, schemas: string[]): Promise<string[]> {
  const { rows } = await warehouse.query<{ name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($2) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        AND NOT has_table_privilege($1, c.oid, 'SELECT')
      ORDER BY 1`,
    [auditRole, schemas],
  );
  return rows.map((r) => r.name);
}

/**
 * Retention (GDPR minimisation): blanks the text of PII-read statements recorded before
 * `olderThan`. Only pii_read_statements changes; the chained audit event keeps the statement's
 * SHA-256, so the chain still verifies and a retained copy of a statement can still be proven to
 * be the one that ran. Rows are never deleted. Returns how many statements were blanked.
 */
export async function pruneStatementText(db: ControlDb, olderThan: Date, batch = 5_000): Promise<number> {
  let total = 0;
  for (;;) {
    // Batches keep each transaction (and its row locks) short on a large backlog.
    // Retention changes what an auditor can read, so each batch is itself an event.
    const pruned = await db.transaction(async (tx) => {
      const ids = await blankStatementText(tx, olderThan, batch);
      if (ids.length > 0) {
        await appendAudit(tx, {
          action: 'pii.statements.pruned',
          actor: 'system:retention',
          details: { count: ids.length, olderThan: olderThan.toISOString(), firstEventId: Math.min(...ids), lastEventId: Math.max(...ids) },
        });
      }
      return ids;
    });
    total += pruned.length;
    if (pruned.length < batch) return total;
  }
}
