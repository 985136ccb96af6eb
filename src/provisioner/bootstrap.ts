// The DBA's part: run once as a superuser (or by hand, from `npm run bootstrap -- --print`).
// Afterwards the gate connects as `<prefix>gate`, which has CREATEROLE and nothing else, and the
// reconciler (src/reconcile/) keeps the grants in step with the policy. After this SQL on a
// warehouse whose tables exist, the reconciler plans nothing (test/reconcile.test.ts).
import type { Policy } from '../policy/schema.js';
import { datasetRole, gatePrivateSchema, managedRoles } from './roles.js';
import { quoteIdent as qi, quoteLiteral, supportsGrantOptions } from './sql.js';

export interface BootstrapOptions {
  prefix: string;
  database: string;
  /** Role that owns (creates) the warehouse tables; default privileges are set for it. */
  tableOwner: string;
  /** SCRAM verifier of the gate's own password (never the plaintext); omitted: set it by hand later. */
  gatePasswordVerifier?: string;
  serverVersionNum: number;
  policy: Pick<Policy, 'tiers' | 'pii_datasets'>;
  /** True when the server preloads pgaudit: PII reads are then logged through the audit role. */
  pgaudit?: boolean;
}

const createRole = (name: string, attrs: string) =>
  `DO $$ BEGIN CREATE ROLE ${qi(name)} ${attrs}; EXCEPTION WHEN duplicate_object THEN NULL; END $$`;

/** GRANT on a table that may not exist yet (the reconciler grants it once it does). */
const grantIfExists = (table: string, grant: string) =>
  `DO $$ BEGIN IF to_regclass(${quoteLiteral(table)}) IS NOT NULL THEN EXECUTE ${quoteLiteral(grant)}; END IF; END $$`;

const qualified = (t: string) => t.split('.').map(qi).join('.');

/**
 * PUBLIC loses CONNECT and TEMPORARY on every other database an analyst could connect to
 * (`postgres`, `template1`, the control database, any other): every role is a member of PUBLIC, so
 * its default CONNECT let an analyst into `postgres` and `template1`, and its TEMPORARY let her create
 * temp tables there. template0 allows no connections and keeps its defaults. A database created
 * later gets PUBLIC's defaults again (PostgreSQL does not copy ACLs from the template): run the
 * bootstrap again after creating one. In a shared cluster, roles of other applications that relied
 * on PUBLIC need their own `GRANT CONNECT` (`--print` shows this statement for review first).
 *
 * The lock serialises this with any other GRANT/REVOKE on databases (they take ROW EXCLUSIVE on
 * pg_database): concurrent updates of one pg_database row fail with "tuple concurrently updated".
 */
export const lockDownOtherDatabasesSql = (warehouse: string) => `DO $$
DECLARE d record;
BEGIN
  LOCK TABLE pg_catalog.pg_database IN SHARE ROW EXCLUSIVE MODE;
  FOR d IN SELECT datname FROM pg_catalog.pg_database
            WHERE datallowconn AND datname <> ${quoteLiteral(warehouse)}
              AND EXISTS (SELECT 1 FROM pg_catalog.aclexplode(COALESCE(datacl, pg_catalog.acldefault('d', datdba))) a
                           WHERE a.grantee = 0 AND a.privilege_type IN ('CONNECT', 'TEMPORARY'))
  LOOP
    EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', d.datname);
  END LOOP;
END $$`;

/**
 * The password check (run as a superuser). PostgreSQL lets any login `ALTER ROLE <itself> PASSWORD`,
 * and the gate's login (CREATEROLE, not superuser) cannot read pg_authid to notice. So the superuser
 * owns, in a schema only the gate may use:
 * - `password_records`: per analyst role, the SHA-256 of the verifier the gate set, and the VALID
 *   UNTIL it set with it (an analyst cannot change her VALID UNTIL, so that pair names one issue);
 * - `record_passwords(roles)`: records the current verifier's digest of those roles; the gate calls
 *   it right after it sets a password (and the reconciler for an issue nobody recorded yet);
 * - `password_state()`: per role under the prefix, `none` (no password), `unrecorded` (nothing
 *   recorded for this VALID UNTIL), `gate` (the recorded verifier) or `changed` (someone else's).
 * Both are SECURITY DEFINER with a pinned search_path, EXECUTE for the gate only, and never return
 * a verifier or a digest. They see only roles under the prefix, never the gate itself or a superuser.
 */
export function passwordCheckSql(prefix: string): string[] {
  const r = managedRoles(prefix);
  const s = qi(gatePrivateSchema(prefix));
  const gate = qi(r.gate);
  const mine = `starts_with(a.rolname, ${quoteLiteral(prefix)}) AND a.rolname <> ${quoteLiteral(r.gate)} AND NOT a.rolsuper`;
  const digest = `encode(sha256(convert_to(a.rolpassword, 'UTF8')), 'hex')`;
  const definer = `SECURITY DEFINER SET search_path = pg_catalog, pg_temp`;
  return [
    `CREATE SCHEMA IF NOT EXISTS ${s}`,
    // The running superuser owns everything here (also when an earlier owner was someone else).
    `ALTER SCHEMA ${s} OWNER TO CURRENT_USER`,
    `REVOKE ALL ON SCHEMA ${s} FROM PUBLIC`,
    `GRANT USAGE ON SCHEMA ${s} TO ${gate}`,
    `CREATE TABLE IF NOT EXISTS ${s}.password_records (role name PRIMARY KEY, digest text NOT NULL, valid_until timestamptz, recorded_at timestamptz NOT NULL)`,
    `ALTER TABLE ${s}.password_records OWNER TO CURRENT_USER`,
    `REVOKE ALL ON TABLE ${s}.password_records FROM PUBLIC`,
    `CREATE OR REPLACE FUNCTION ${s}.password_state() RETURNS TABLE (role name, state text) LANGUAGE sql STABLE ${definer} AS $fn$
  SELECT a.rolname, CASE WHEN a.rolpassword IS NULL THEN 'none'
                         WHEN p.role IS NULL OR p.valid_until IS DISTINCT FROM a.rolvaliduntil THEN 'unrecorded'
                         WHEN p.digest = ${digest} THEN 'gate'
                         ELSE 'changed' END
    FROM pg_catalog.pg_authid a LEFT JOIN ${s}.password_records p ON p.role = a.rolname
   WHERE ${mine}
$fn$`,
    `CREATE OR REPLACE FUNCTION ${s}.record_passwords(roles name[]) RETURNS integer LANGUAGE sql VOLATILE ${definer} AS $fn$
  WITH recorded AS (
    INSERT INTO ${s}.password_records AS p (role, digest, valid_until, recorded_at)
    SELECT a.rolname, ${digest}, a.rolvaliduntil, now() FROM pg_catalog.pg_authid a
     WHERE a.rolname = ANY (roles) AND a.rolpassword IS NOT NULL AND ${mine}
    ON CONFLICT (role) DO UPDATE SET digest = EXCLUDED.digest, valid_until = EXCLUDED.valid_until, recorded_at = EXCLUDED.recorded_at
    RETURNING 1)
  SELECT count(*)::integer FROM recorded
$fn$`,
    `ALTER FUNCTION ${s}.password_state() OWNER TO CURRENT_USER`,
    `ALTER FUNCTION ${s}.record_passwords(name[]) OWNER TO CURRENT_USER`,
    `REVOKE ALL ON FUNCTION ${s}.password_state(), ${s}.record_passwords(name[]) FROM PUBLIC`,
    `GRANT EXECUTE ON FUNCTION ${s}.password_state(), ${s}.record_passwords(name[]) TO ${gate}`,
  ];
}

/** Records the verifiers of `$1` (name[]) as the gate's own, for roles whose record is missing. */
export const recordPasswordsSql = (prefix: string) => `SELECT ${qi(gatePrivateSchema(prefix))}.record_passwords($1::name[]) AS n`;

/** The statement the gate runs right after it sets `role`'s password, in the same transaction. */
export const recordPasswordSql = (prefix: string, role: string) =>
  `SELECT ${qi(gatePrivateSchema(prefix))}.record_passwords(ARRAY[${quoteLiteral(role)}]::name[]) AS n`;

export function bootstrapSql(o: BootstrapOptions): string[] {
  const r = managedRoles(o.prefix);
  const db = qi(o.database);
  const owner = qi(o.tableOwner);
  const pg16 = supportsGrantOptions(o.serverVersionNum);
  const datasets = o.policy.pii_datasets.map((d) => ({ ...d, role: datasetRole(o.prefix, d.name) }));
  const pseudo = o.policy.tiers.pseudonymized;
  const governed = [...pseudo.schemas, ...o.policy.tiers.pii.schemas];
  return [
    createRole(r.pseudonymized, 'NOLOGIN'),
    createRole(r.piiAudit, 'NOLOGIN'),
    ...datasets.map((d) => createRole(d.role, 'NOLOGIN')),
    createRole(r.gate, 'LOGIN'),
    `ALTER ROLE ${qi(r.gate)} WITH LOGIN CREATEROLE NOSUPERUSER NOCREATEDB NOREPLICATION NOBYPASSRLS${
      o.gatePasswordVerifier ? ` PASSWORD ${quoteLiteral(o.gatePasswordVerifier)}` : ''
    }`,
    // Analysts connect to the warehouse only (see lockDownOtherDatabasesSql); first, before this
    // transaction touches pg_database otherwise, so its lock is never an upgrade.
    lockDownOtherDatabasesSql(o.database),
    // Read-only analysts: no temp tables, no objects in public, connect only through the tier group.
    `REVOKE ALL ON DATABASE ${db} FROM PUBLIC`,
    `GRANT CONNECT ON DATABASE ${db} TO ${qi(r.pseudonymized)}, ${qi(r.gate)}`,
    `REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
    ...governed.flatMap((s) => [
      `CREATE SCHEMA IF NOT EXISTS ${qi(s)} AUTHORIZATION ${owner}`,
      `REVOKE ALL ON SCHEMA ${qi(s)} FROM PUBLIC`,
      `REVOKE ALL ON ALL TABLES IN SCHEMA ${qi(s)} FROM PUBLIC`,
    ]),
    ...pseudo.schemas.flatMap((s) => [
      `GRANT USAGE ON SCHEMA ${qi(s)} TO ${qi(r.pseudonymized)}`,
      // Only when the policy takes every table; narrower patterns are granted table by table by
      // the reconciler. No default privileges here on purpose: a new pseudonymized table waits
      // for the reconciler's leak guard instead of being readable the moment it is created.
      ...(pseudo.tables.includes('*') ? [`GRANT SELECT ON ALL TABLES IN SCHEMA ${qi(s)} TO ${qi(r.pseudonymized)}`] : []),
    ]),
    // PII access is per dataset: each dataset role reads exactly its tables.
    ...datasets.flatMap((d) => [
      ...[...new Set(d.tables.map((t) => t.split('.')[0]!))].map((s) => `GRANT USAGE ON SCHEMA ${qi(s)} TO ${qi(d.role)}`),
      ...d.tables.map((t) => grantIfExists(t, `GRANT SELECT ON ${qualified(t)} TO ${qi(d.role)}`)),
    ]),
    // pgaudit logs a statement when the audit role holds the privilege it used on the relation;
    // default privileges cover PII tables created later (holding SELECT gives nobody access).
    ...o.policy.tiers.pii.schemas.flatMap((s) => [
      `GRANT SELECT ON ALL TABLES IN SCHEMA ${qi(s)} TO ${qi(r.piiAudit)}`,
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA ${qi(s)} GRANT SELECT ON TABLES TO ${qi(r.piiAudit)}`,
    ]),
    ...(o.pgaudit ? [`ALTER DATABASE ${db} SET pgaudit.role = ${quoteLiteral(r.piiAudit)}`] : []),
    // PG16+: a CREATEROLE role can only grant roles it holds with ADMIN; INHERIT/SET FALSE keep the
    // gate itself from reading any data. PG15 lets CREATEROLE grant any non-superuser role.
    ...(pg16
      ? [r.pseudonymized, ...datasets.map((d) => d.role)].map(
          (g) => `GRANT ${qi(g)} TO ${qi(r.gate)} WITH ADMIN TRUE, INHERIT FALSE, SET FALSE`,
        )
      : []),
    // Ending access means terminating the analyst's sessions.
    `GRANT pg_signal_backend TO ${qi(r.gate)}`,
    ...passwordCheckSql(o.prefix),
  ];
}
