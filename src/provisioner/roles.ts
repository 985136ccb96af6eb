/** Names of the roles the gate manages, all under one prefix so nothing else is ever touched. */
export function managedRoles(prefix: string) {
  return {
    gate: `${prefix}gate`,
    /** Owns the control database's tables; NOLOGIN, used only to migrate. */
    controlOwner: `${prefix}control_owner`,
    pseudonymized: `${prefix}tier_pseudonymized`,
    pii: `${prefix}tier_pii`,
    /** pgaudit's object-audit role: holds SELECT on exactly the PII tables; NOLOGIN, granted to nobody. */
    piiAudit: `${prefix}pii_audit`,
  };
}
export type ManagedRoles = ReturnType<typeof managedRoles>;
