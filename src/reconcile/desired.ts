// What must hold in the warehouse: the policy (tiers, datasets) plus the gate's own state in the
// control database (admitted analysts, live credentials, live PII grants). Runtime-agnostic.
import type { ControlDb } from '../db/client.js';
import type { Policy } from '../policy/schema.js';
import { datasetRole, managedRoles } from '../provisioner/roles.js';
import { analystsWithAccess } from './dal.js';

export interface AnalystState {
  username: string;
  role: string;
  /** A credential row with revoked_at IS NULL AND expires_at > now(). */
  liveCredential: boolean;
  /** Datasets with a live pii_grants row (ended_at IS NULL AND expires_at > now()). */
  datasets: string[];
}

export interface GateState {
  analysts: AnalystState[];
}

export async function readGateState(control: ControlDb): Promise<GateState> {
  const rows = await analystsWithAccess(control);
  return { analysts: rows.map((r) => ({ username: r.username, role: r.role, liveCredential: r.live, datasets: r.datasets })) };
}

/** A privilege that must exist: `kind` names the object class for GRANT/REVOKE. */
export interface Privilege {
  kind: 'table' | 'schema' | 'database';
  /** `schema.table`, `schema` or the database name. */
  object: string;
  grantee: string;
  privilege: string;
}

export const privilegeKey = (p: Privilege) => `${p.kind}:${p.object}:${p.grantee}:${p.privilege}`;

export interface DesiredGroups {
  pseudonymized: string;
  piiAudit: string;
  gate: string;
  /** dataset name -> group role */
  datasets: Map<string, string>;
  /** Every NOLOGIN group role the gate manages. */
  all: string[];
}

export function desiredGroups(policy: Pick<Policy, 'pii_datasets'>, prefix: string): DesiredGroups {
  const r = managedRoles(prefix);
  const datasets = new Map(policy.pii_datasets.map((d) => [d.name, datasetRole(prefix, d.name)]));
  return { pseudonymized: r.pseudonymized, piiAudit: r.piiAudit, gate: r.gate, datasets, all: [r.pseudonymized, r.piiAudit, ...datasets.values()] };
}

/** `*` matches any run of characters; everything else is literal. */
export function globRegex(pattern: string, capture = false): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join(capture ? '(.*)' : '.*');
  return new RegExp(`^${body}$`);
}

export function pseudonymizedTableMatcher(policy: Pick<Policy, 'tiers'>) {
  const schemas = new Set(policy.tiers.pseudonymized.schemas);
  const names = policy.tiers.pseudonymized.tables.map((p) => globRegex(p));
  return (schema: string, table: string) => schemas.has(schema) && names.some((re) => re.test(table));
}
