// The DBA's part: run once as a superuser (or by hand, from the printed SQL). Afterwards the gate
// only ever connects as `<prefix>gate`, which has CREATEROLE and nothing else.
import type { Policy } from '../policy/schema.js';
import { managedRoles } from './roles.js';
import { quoteIdent as qi, quoteLiteral, supportsGrantOptions } from './sql.js';

export interface BootstrapOptions {
  prefix: string;
  database: string;
  /** Role that owns (creates) the warehouse tables; default privileges are set for it. */
  tableOwner: string;
  /** SCRAM verifier of the gate's own password (never the plaintext). */
  gatePasswordVerifier: string;
  serverVersionNum: number;
  policy: Pick<Policy, 'tiers'>;
  /** True when the server preloads pgaudit: PII reads are then logged through the audit role. */
  pgaudit?: boolean;
}

const createRole = (name: string, attrs: string) =>
  `DO $$ BEGIN CREATE ROLE ${qi(name)} ${attrs}; EXCEPTION WHEN duplicate_object THEN NULL; END $$`;

export function bootstrapSql(o: BootstrapOptions): string[] {
  const r = managedRoles(o.prefix);
  const db = qi(o.database);
  const owner = qi(o.tableOwner);
  const pg16 = supportsGrantOptions(o.serverVersionNum);
  const tier = (group: string, schemas: string[]) =>
    schemas.flatMap((s) => [
      `CREATE SCHEMA IF NOT EXISTS ${qi(s)} AUTHORIZATION ${owner}`,
      `REVOKE ALL ON SCHEMA ${qi(s)} FROM PUBLIC`,
      `REVOKE ALL ON ALL TABLES IN SCHEMA ${qi(s)} FROM PUBLIC`,
      `GRANT USAGE ON SCHEMA ${qi(s)} TO ${qi(group)}`,
      `GRANT SELECT ON ALL TABLES IN SCHEMA ${qi(s)} TO ${qi(group)}`,
      // New tables are not covered by the line above; default privileges cover them.
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA ${qi(s)} GRANT SELECT ON TABLES TO ${qi(group)}`,
    ]);
  return [
    createRole(r.pseudonymized, 'NOLOGIN'),
    createRole(r.pii, 'NOLOGIN'),
    createRole(r.piiAudit, 'NOLOGIN'),
    createRole(r.gate, 'LOGIN'),
    `ALTER ROLE ${qi(r.gate)} WITH LOGIN CREATEROLE NOSUPERUSER NOCREATEDB NOREPLICATION NOBYPASSRLS PASSWORD ${quoteLiteral(o.gatePasswordVerifier)}`,
    // Read-only analysts: no temp tables, no objects in public, connect only through the tier group.
    `REVOKE ALL ON DATABASE ${db} FROM PUBLIC`,
    `GRANT CONNECT ON DATABASE ${db} TO ${qi(r.pseudonymized)}, ${qi(r.gate)}`,
    `REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
    ...tier(r.pseudonymized, o.policy.tiers.pseudonymized.schemas),
    ...tier(r.pii, o.policy.tiers.pii.schemas),
    // pgaudit logs a statement when the audit role holds the privilege it used on the relation.
    ...o.policy.tiers.pii.schemas.flatMap((s) => [
      `GRANT SELECT ON ALL TABLES IN SCHEMA ${qi(s)} TO ${qi(r.piiAudit)}`,
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA ${qi(s)} GRANT SELECT ON TABLES TO ${qi(r.piiAudit)}`,
    ]),
    ...(o.pgaudit ? [`ALTER DATABASE ${db} SET pgaudit.role = ${quoteLiteral(r.piiAudit)}`] : []),
    // PG16+: a CREATEROLE role can only grant roles it holds with ADMIN; INHERIT/SET FALSE keep the
    // gate itself from reading any data. PG15 lets CREATEROLE grant any non-superuser role.
    ...(pg16
      ? [r.pseudonymized, r.pii].map((g) => `GRANT ${qi(g)} TO ${qi(r.gate)} WITH ADMIN TRUE, INHERIT FALSE, SET FALSE`)
      : []),
    // Ending access means terminating the analyst's sessions.
    `GRANT pg_signal_backend TO ${qi(r.gate)}`,
  ];
}
