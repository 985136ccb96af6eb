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
