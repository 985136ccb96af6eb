/** Names of the roles the gate manages, all under one prefix so nothing else is ever touched. */
export function managedRoles(prefix: string) {
  return {
    gate: `${prefix}gate`,
    pseudonymized: `${prefix}tier_pseudonymized`,
    pii: `${prefix}tier_pii`,
  };
}
export type ManagedRoles = ReturnType<typeof managedRoles>;
