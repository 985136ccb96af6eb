// Where someone stands under the policy, from the groups the issuer gave them. Computed on every
// request from the identity (never stored), and from `analysts.last_groups` for someone who is not
// asking (the requester of a PII request an approver decides).
import type { Standing } from '../auth/identity.js';
import type { Policy } from '../policy/schema.js';

export type { Standing };

export const NO_STANDING: Standing = Object.freeze({ member: false, approver: false, auditor: false, admin: false });

export function standingOf(groups: readonly string[], admission: Policy['admission']): Standing {
  const inAny = (wanted: readonly string[]) => wanted.some((g) => groups.includes(g));
  const auditor = inAny(admission.auditor_groups);
  return {
    member: inAny(admission.member_groups),
    // Separation of duties: auditors review decisions, so they never make them, whatever other
    // groups they are in.
    approver: inAny(admission.approver_groups) && !auditor,
    auditor,
    admin: inAny(admission.admin_groups),
  };
}

/** Signed in with a reason to be here: an FDWG member, an auditor or an admin. */
export const hasStanding = (s: Standing) => s.member || s.auditor || s.admin;
