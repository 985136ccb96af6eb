/** Names of the roles the gate manages, all under one prefix so nothing else is ever touched. */
export function managedRoles(prefix: string) {
  return {
    gate: `${prefix}gate`,
    /** Owns the control database's tables; NOLOGIN, used only to migrate. */
    controlOwner: `${prefix}control_owner`,
    pseudonymized: `${prefix}tier_pseudonymized`,
    pii: `${prefix}tier_pii`,
  };
}
export type ManagedRoles = ReturnType<typeof managedRoles>;
