// The DBA's part: run once as a superuser (or by hand, from `npm run bootstrap -- --print`).
// Afterwards the gate connects as `<prefix>gate`, which has CREATEROLE and nothing else, and the
// reconciler (src/reconcile/) keeps the grants in step with the policy. After this SQL on a
// warehouse whose tables exist, the reconciler plans nothing (test/reconcile.test.ts).
import type { Policy } from '../policy/schema.js';
import { datasetRole, managedRoles } from './roles.js';
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
  ];
}
