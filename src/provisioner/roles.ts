/** Names of the roles the gate manages, all under one prefix so nothing else is ever touched. */
export function managedRoles(prefix: string) {
  return {
    gate: `${prefix}gate`,
    /** Owns the control database's tables; NOLOGIN, used only to migrate. */
    controlOwner: `${prefix}control_owner`,
    pseudonymized: `${prefix}tier_pseudonymized`,
    /** pgaudit's object-audit role: holds SELECT on exactly the PII tables; NOLOGIN, granted to nobody. */
    piiAudit: `${prefix}pii_audit`,
  };
}

/**
 * The group role of one PII dataset from the policy; dataset names are validated short and plain.
 * PII access is per dataset: there is no group for the whole PII tier.
 */
export const datasetRole = (prefix: string, dataset: string) => `${prefix}pii_${dataset}`;

export type ManagedRoles = ReturnType<typeof managedRoles>;

/**
 * The gate's private schema in the warehouse (created by the DBA's bootstrap, owned by the
 * superuser, USAGE for the gate only): the password check's SECURITY DEFINER functions and the
 * digests they keep. Analysts have no privilege on it.
 */
export const gatePrivateSchema = (prefix: string) => `${prefix}gate_private`;

/**
 * The per-role settings the gate gives every analyst role (pg_db_role_setting, all databases), as
 * PostgreSQL stores them. Defaults only: an analyst can SET them away in a session, so read-only
 * really comes from privileges; but the role's stored defaults are the gate's, and the reconciler
 * puts them back when an analyst changes them with `ALTER ROLE <herself> SET ...`.
 */
export function analystRoleSettings(credentials: { statement_timeout: string }): Record<string, string> {
  return { default_transaction_read_only: 'on', statement_timeout: credentials.statement_timeout };
}
