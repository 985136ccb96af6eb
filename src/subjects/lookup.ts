// Where a person's rows are in the PII tier, answered without the gate ever reading a PII value.
//
// The gate's login has no privilege on the PII schemas (and must not get one). A DBA therefore
// installs one SECURITY DEFINER function in the warehouse, in the bootstrap's private schema
// (subjectLookupSql, after the bootstrap; the embedded demo and the tests install it as the
// cluster's superuser): given a username, it returns the person's
// pseudonyms (one per key period when pseudonyms rotate) and, per PII table, how many rows are
// about them — table names and counts only. Only
// the gate's login may execute it. The pseudonym is no secret from the gate: it is what the
// pseudonymized tier shows every analyst.
//
// "About them" in the Datanommer layout: their pii.users row (by username), and the pii.message_text
// rows they wrote (author_email = their address). A warehouse with other PII tables extends the
// function's UNION; the report maps tables to datasets through the policy.
import type pg from 'pg';
import { quoteIdent } from '../provisioner/sql.js';
import { gatePrivateSchema, managedRoles } from '../provisioner/roles.js';

/** In the bootstrap's private schema: USAGE for the gate only, nothing for PUBLIC. */
export const lookupFunction = (prefix: string) => `${quoteIdent(gatePrivateSchema(prefix))}.subject_rows`;

/** The DBA's SQL (run as the owner of the PII tables, e.g. the superuser), one statement each. */
export function subjectLookupSql(prefix: string): string[] {
  const fn = lookupFunction(prefix);
  return [
    `CREATE OR REPLACE FUNCTION ${fn}(p_username text)
       RETURNS TABLE (pseudonyms text[], table_name text, row_count bigint)
       LANGUAGE sql STABLE SECURITY DEFINER
       SET search_path = pg_catalog, pg_temp
     AS $fn$
       WITH u AS (SELECT pu.pseudonym, pu.email FROM pii.users pu WHERE pu.username = p_username),
            p AS (SELECT array_agg(DISTINCT u.pseudonym ORDER BY u.pseudonym) AS pseudonyms FROM u)
       SELECT p.pseudonyms, 'pii.users'::text, (SELECT count(*) FROM u) FROM p
       UNION ALL
       SELECT p.pseudonyms, 'pii.message_text'::text,
              (SELECT count(*) FROM pii.message_text t WHERE t.author_email IN (SELECT u.email FROM u)) FROM p
     $fn$`,
    `ALTER FUNCTION ${fn}(text) OWNER TO CURRENT_USER`,
    `REVOKE ALL ON FUNCTION ${fn}(text) FROM PUBLIC`,
    `GRANT EXECUTE ON FUNCTION ${fn}(text) TO ${quoteIdent(managedRoles(prefix).gate)}`,
  ];
}

export async function installSubjectLookup(dba: pg.ClientBase | pg.Pool, prefix: string): Promise<void> {
  for (const s of subjectLookupSql(prefix)) await dba.query(s);
}

export type SubjectPresence =
  | { checked: true; pseudonyms: string[]; tables: { table: string; rows: number }[] }
  | { checked: false; detail: string };

/** Asks the warehouse, as the gate's login. A missing function is reported, never guessed around. */
export async function subjectPresence(warehouse: pg.Pool, prefix: string, username: string): Promise<SubjectPresence> {
  try {
    const { rows } = await warehouse.query<{ pseudonyms: string[] | null; table_name: string; row_count: string }>(
      `SELECT pseudonyms, table_name, row_count FROM ${lookupFunction(prefix)}($1)`,
      [username],
    );
    return {
      checked: true,
      pseudonyms: rows[0]?.pseudonyms ?? [],
      tables: rows.filter((r) => Number(r.row_count) > 0).map((r) => ({ table: r.table_name, rows: Number(r.row_count) })),
    };
  } catch (err) {
    const code = (err as { code?: string }).code;
    // 42883/3F000: not installed; 42501: installed without EXECUTE for the gate.
    if (code === '42883' || code === '42501' || code === '3F000') {
      return { checked: false, detail: `The warehouse's subject lookup (${lookupFunction(prefix)}) is ${code === '42501' ? 'not executable by the gate' : 'not installed'}: a DBA runs its SQL (src/subjects/lookup.ts).` };
    }
    throw err;
  }
}
