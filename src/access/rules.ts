// The rule table: every action a route can declare, who may take it, what a refusal says and
// whether it goes on the access log. Pages, the API and the header links all read this table; a
// route without an action does not start (see ./guard.ts). Rules about one object (your own
// request, a second vote) are in ./objects.ts; the services apply them.
import { AppError } from '../errors.js';
import { hasStanding, type Standing } from './standing.js';

export type RefusalCode = 'unauthenticated' | 'forbidden' | 'not_admitted' | 'agreement_required';

export interface Refusal {
  code: RefusalCode;
  /** For people: shown on the page or in the JSON error. */
  message: string;
  /** For the access log: why, in a few words. */
  reason: string;
}

/** What a rule looks at. `agreement` is loaded only for rules that need it (a database read). */
export interface Subject {
  standing: Standing;
  agreement?: { version: string; accepted: boolean };
}

type Why = { code: RefusalCode; reason: string } | null;

interface Who {
  /** For people (the README's table). */
  text: string;
  /** Answered without signing in. */
  anonymous: boolean;
  /** Looks at whether the current agreement is accepted (members only). */
  needsAgreement: boolean;
  refuse(s: Subject): Why;
}

const notMember = { code: 'not_admitted', reason: 'not an FDWG member' } as const;
const noAgreement = { code: 'agreement_required', reason: 'the current data-use agreement is not accepted' } as const;
const notApprover = (s: Standing): Why => ({ code: 'forbidden', reason: s.auditor ? 'an auditor (auditors never decide)' : 'not an approver' });
const accepted = (s: Subject) => {
  if (!s.agreement) throw new Error('this rule needs the agreement status');
  return s.agreement.accepted;
};

/** The few kinds of "who", each with its refusals in the order they are checked. */
export const whoRules = {
  anyone: { text: 'anyone', anonymous: true, needsAgreement: false, refuse: () => null },
  signedIn: { text: 'anyone signed in', anonymous: false, needsAgreement: false, refuse: () => null },
  visitor: {
    text: 'anyone; once signed in, members, auditors and admins',
    anonymous: true,
    needsAgreement: false,
    refuse: (s) => (hasStanding(s.standing) ? null : { code: 'not_admitted', reason: 'no FDWG standing' }),
  },
  member: { text: 'FDWG members', anonymous: false, needsAgreement: false, refuse: (s) => (s.standing.member ? null : notMember) },
  admitted: {
    text: 'FDWG members who accepted the current agreement',
    anonymous: false,
    needsAgreement: true,
    refuse: (s) => (!s.standing.member ? notMember : accepted(s) ? null : noAgreement),
  },
  cli: {
    text: 'auditors, admins, and members who accepted the current agreement',
    anonymous: false,
    needsAgreement: true,
    refuse: (s) =>
      !hasStanding(s.standing) ? { code: 'not_admitted', reason: 'no FDWG standing' } : s.standing.member && !accepted(s) ? noAgreement : null,
  },
  approver: { text: 'approvers (never auditors)', anonymous: false, needsAgreement: false, refuse: (s) => (s.standing.approver ? null : notApprover(s.standing)) },
  approverOrAdmin: {
    text: 'approvers (never auditors) and admins',
    anonymous: false,
    needsAgreement: false,
    refuse: (s) => (s.standing.approver || s.standing.admin ? null : notApprover(s.standing)),
  },
  auditor: { text: 'auditors', anonymous: false, needsAgreement: false, refuse: (s) => (s.standing.auditor ? null : { code: 'forbidden', reason: 'not an auditor' }) },
  admin: { text: 'admins', anonymous: false, needsAgreement: false, refuse: (s) => (s.standing.admin ? null : { code: 'forbidden', reason: 'not an admin' }) },
} as const satisfies Record<string, Who>;

export type WhoName = keyof typeof whoRules;

type Message = string | ((s: Subject | null) => string);

export interface ActionRule {
  who: WhoName;
  /** What the action is, for people. */
  what: string;
  /** A refusal (403) is an `access.denied` event on the access log. */
  recorded: boolean;
  /** This action's words for its refusals; the defaults below otherwise. */
  messages?: Partial<Record<RefusalCode, Message>>;
  /** The route's `:id` is one of these: a refusal records which. */
  object?: 'request' | 'grant';
  /** A header link to this section, for whoever may take the action. */
  nav?: { href: string; label: string };
}

const defaults: Record<RefusalCode, Message> = {
  unauthenticated: 'Sign in first (GET /auth/login).',
  not_admitted: 'Only members of the FDWG group are admitted to the warehouse.',
  agreement_required: (s) => `Accept the data-use agreement version ${s?.agreement?.version ?? ''} first.`,
  forbidden: 'Not open to you.',
};

const piiMembers = 'PII requests are for FDWG members only.';

export const actions = {
  health: { who: 'anyone', what: 'health check and the token keys (JWKS), answered before any credential is read', recorded: false },
  metrics: { who: 'anyone', what: "Prometheus metrics; the route itself answers 401 to any caller without the scraper's `Authorization: Bearer <METRICS_TOKEN>`", recorded: false },
  public: { who: 'anyone', what: 'the API reference and /openapi.json; starting a CLI sign-in and exchanging its code', recorded: false },
  signin: { who: 'anyone', what: 'signing in with the identity provider', recorded: false },
  'home.read': {
    who: 'visitor',
    what: 'the start page (a landing page when signed out)',
    recorded: false,
    messages: { not_admitted: 'The warehouse is open to members of the Fedora Data Working Group only.' },
  },
  'me.read': { who: 'signedIn', what: 'who you are and where you stand (GET /api/me)', recorded: false },
  signout: { who: 'signedIn', what: 'signing out; ending the gate token you send', recorded: false },
  'agreement.accept': {
    who: 'member',
    what: 'accepting the data-use agreement',
    recorded: false,
    messages: { not_admitted: 'Only members of the FDWG group can accept the data-use agreement.' },
  },
  'credentials.issue': { who: 'admitted', what: 'a warehouse password', recorded: true },
  'credentials.revoke': {
    who: 'member',
    what: 'revoking your own warehouse access',
    recorded: false,
    messages: { not_admitted: 'You have no warehouse role to revoke.' },
  },
  'requests.read': {
    who: 'member',
    what: 'the PII datasets and your own PII requests',
    recorded: false,
    messages: { not_admitted: piiMembers },
    nav: { href: '/requests', label: 'Requests' },
  },
  'requests.create': { who: 'admitted', what: 'asking for PII datasets', recorded: true },
  'requests.withdraw': { who: 'member', what: 'withdrawing your own pending request', recorded: false, messages: { not_admitted: piiMembers }, object: 'request' },
  'requests.relinquish': { who: 'member', what: 'giving up your own live PII access early', recorded: false, messages: { not_admitted: piiMembers }, object: 'request' },
  'approvals.read': {
    who: 'approverOrAdmin',
    what: 'the approval queue (pending requests for approvers) and every live grant',
    recorded: true,
    messages: { forbidden: 'The approval queue is open to approvers and admins only.' },
    nav: { href: '/approvals', label: 'Approvals' },
  },
  'requests.review': {
    who: 'approver',
    what: 'approving or denying a PII request (never your own, one vote each)',
    recorded: true,
    messages: { forbidden: 'Only approvers decide PII requests.' },
    object: 'request',
  },
  'grants.revoke': {
    who: 'approverOrAdmin',
    what: 'ending someone\'s live PII access early',
    recorded: true,
    messages: { forbidden: 'Only approvers and admins revoke PII access.' },
    object: 'grant',
  },
  'admin.read': {
    who: 'admin',
    what: 'the admin page: reconciler plan, drift, policy version',
    recorded: true,
    messages: { forbidden: 'The admin page is open to administrators only.' },
    nav: { href: '/admin', label: 'Admin' },
  },
  'admin.sessions.end': {
    who: 'admin',
    what: 'ending every gate session of a person',
    recorded: true,
    messages: { forbidden: 'The admin page is open to administrators only.' },
  },
  'audit.read': {
    who: 'auditor',
    what: 'the access log: pages, exports and API',
    recorded: true,
    messages: { forbidden: 'The access log is open to auditors only.' },
    nav: { href: '/audit', label: 'Access log' },
  },
  'audit.subjects': {
    who: 'auditor',
    what: 'data-subject reports (who could and who did read a person\'s PII), each with a stated reason and itself on the log',
    recorded: true,
    messages: { forbidden: 'Data-subject reports are open to auditors only.' },
  },
  'cli.login': {
    who: 'cli',
    what: 'letting a command line sign in as you (loopback or device code)',
    recorded: false,
    messages: {
      not_admitted: 'Only FDWG members, auditors and admins can sign in a command line.',
      agreement_required: (s) => `Accept the data-use agreement version ${s?.agreement?.version ?? ''} on the start page first, then run the sign-in again.`,
    },
  },
} as const satisfies Record<string, ActionRule>;

export type Action = keyof typeof actions;

export const isAction = (name: string): name is Action => Object.hasOwn(actions, name);

/** The header links, in this order, each shown to whoever may take its action. */
export const navigation: readonly Action[] = ['requests.read', 'approvals.read', 'admin.read', 'audit.read'];

const ruleOf = (action: Action): ActionRule => actions[action];
export const whoOf = (action: Action) => whoRules[ruleOf(action).who];

/** Whether deciding `action` needs the agreement status (a database read) for this standing. */
export const needsAgreement = (action: Action, standing: Standing) => whoOf(action).needsAgreement && standing.member;

/** Null when `subject` (null: nobody signed in) may take `action`; else the refusal. */
export function decide(action: Action, subject: Subject | null): Refusal | null {
  const rule = ruleOf(action);
  const who = whoRules[rule.who];
  const why: Why = subject ? who.refuse(subject) : who.anonymous ? null : { code: 'unauthenticated', reason: 'not signed in' };
  if (!why) return null;
  const message = rule.messages?.[why.code] ?? defaults[why.code];
  return { ...why, message: typeof message === 'function' ? message(subject) : message };
}

/**
 * For services, behind the routes' guards: the same rule again where a method reveals or changes
 * something of its action (a refusal here is not recorded: the guard in front already was).
 */
export function assertAllowed(action: Action, subject: Subject): void {
  const refusal = decide(action, subject);
  if (refusal) throw new AppError(refusal.code, refusal.message);
}

/** The header links a standing opens (none for the signed-out). */
export function navLinks(standing: Standing | undefined): { href: string; label: string }[] {
  if (!standing) return [];
  return navigation.filter((a) => !whoOf(a).needsAgreement && decide(a, { standing }) === null).map((a) => ruleOf(a).nav!);
}

/**
 * The table as markdown (the README's section): each action, who may, what a refusal is, whether
 * it is recorded, and the routes that declare it (`routes`: from `routesByAction()` in ./rule-table.ts).
 */
export function ruleTableMarkdown(routes: ReadonlyMap<Action, readonly string[]>): string {
  const lines = ['| action | who may | refused with | on the log | routes |', '|---|---|---|---|---|'];
  for (const [name, rule] of Object.entries(actions) as [Action, ActionRule][]) {
    const who = whoRules[rule.who];
    const codes = [...(who.anonymous ? [] : ['401']), ...refusalCodes(name).map((c) => `403 \`${c}\``)];
    const cells = [`\`${name}\` ${rule.what}`, who.text, codes.join(', ') || '-', rule.recorded ? '`access.denied`' : '-', (routes.get(name) ?? []).map((r) => `\`${r}\``).join('<br>')];
    // A `|` in a description would end its cell.
    lines.push(`| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The 403 codes `action` can answer someone signed in, found by asking about every standing. */
export function refusalCodes(action: Action): Exclude<RefusalCode, 'unauthenticated'>[] {
  const codes = new Set<Exclude<RefusalCode, 'unauthenticated'>>();
  for (let bits = 0; bits < 16; bits++) {
    const standing = { member: Boolean(bits & 1), approver: Boolean(bits & 2), auditor: Boolean(bits & 4), admin: Boolean(bits & 8) };
    for (const accepted of [true, false]) {
      const why = whoOf(action).refuse({ standing, agreement: { version: '', accepted } });
      if (why && why.code !== 'unauthenticated') codes.add(why.code);
    }
  }
  return [...codes];
}
