// Demo identities for the bundled development OIDC provider (src/dev/oidc-issuer.ts).
// THESE ARE DEMO ACCOUNTS WITH PUBLICLY KNOWN PASSWORDS. They exist only inside the dev issuer,
// which shows them on its own login page; never reuse them for anything real.

export interface DemoAccount {
  /** Fedora Accounts username; the issuer puts it in the `nickname` claim. */
  username: string;
  /** Demo password, deliberately simple and printed on the login page. */
  password: string;
  name: string;
  email: string;
  /** Fedora Accounts group names; the issuer puts them in the `groups` claim. */
  groups: string[];
  /** Human description of what the account demonstrates (README, console, login page). */
  role: string;
  /** Signed agreements for the `agreements` claim (e.g. 'FPCA'); none when omitted. */
  agreements?: string[];
}

export const demoAccounts: DemoAccount[] = [
  {
    username: 'alice',
    password: 'alice-demo',
    name: 'Alice Analyst',
    email: 'alice@example.org',
    groups: ['fdwg'],
    role: 'FDWG analyst (member of fdwg)',
    agreements: ['FPCA'],
  },
  {
    username: 'bob',
    password: 'bob-demo',
    name: 'Bob Approver',
    email: 'bob@example.org',
    groups: ['fdwg', 'fdwg-approvers'],
    role: 'FDWG approver (member of fdwg and fdwg-approvers)',
    agreements: ['FPCA'],
  },
  {
    username: 'dave',
    password: 'dave-demo',
    name: 'Dave Approver',
    email: 'dave@example.org',
    groups: ['fdwg', 'fdwg-approvers'],
    role: 'Second FDWG approver (datasets that need two approvals)',
    agreements: ['FPCA'],
  },
  {
    username: 'erin',
    password: 'erin-demo',
    name: 'Erin Admin',
    email: 'erin@example.org',
    groups: ['fdwg', 'fdwg-admins'],
    role: 'FDWG admin (policy, reconciler plan and drift, early revoke)',
    agreements: ['FPCA'],
  },
  {
    username: 'carol',
    password: 'carol-demo',
    name: 'Carol Auditor',
    email: 'carol@example.org',
    groups: ['fdwg-auditors'],
    role: 'Auditor (member of fdwg-auditors only, not of fdwg)',
    agreements: ['FPCA'],
  },
  {
    username: 'mallory',
    password: 'mallory-demo',
    name: 'Mallory Packager',
    email: 'mallory@example.org',
    groups: ['packager'],
    role: 'Outside FDWG (a Fedora packager, no FDWG group)',
    agreements: ['FPCA'],
  },
];
