/** Who is asking, as the issuer said at the last login or token refresh. */
export interface Identity {
  sub: string;
  username: string;
  email: string | null;
  name: string | null;
  groups: string[];
}

/** What the identity may do under the policy; computed, never stored. */
export interface Standing {
  member: boolean;
  approver: boolean;
  auditor: boolean;
  admin: boolean;
}
