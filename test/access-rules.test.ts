// The rule table itself (src/access/rules.ts), without a gate: who may take each action is written
// out here a second time, by kind of person, so that a change to the table is a change to this
// test too (the route walk in security-routes.test.ts then checks that the app answers as the
// table says). Also the standing (separation of duties) and the header links.
import { describe, expect, test } from 'vitest';
import { reviewBlock, requesterStillAdmitted } from '../src/access/objects.js';
import { type Action, actions, assertAllowed, decide, navLinks, refusalCodes, ruleTableMarkdown } from '../src/access/rules.js';
import { readReadme, readmeRuleTable, ruleTableSection, withRuleTable } from '../src/access/rule-table.js';
import { standingOf } from '../src/access/standing.js';
import { AppError } from '../src/errors.js';

const admission = { member_groups: ['fdwg'], approver_groups: ['fdwg-approvers'], auditor_groups: ['fdwg-auditors'], admin_groups: ['fdwg-admins'] };
const kinds = {
  anonymous: null,
  outsider: { groups: ['packager'], accepted: false },
  newMember: { groups: ['fdwg'], accepted: false },
  member: { groups: ['fdwg'], accepted: true },
  approver: { groups: ['fdwg', 'fdwg-approvers'], accepted: true },
  auditor: { groups: ['fdwg-auditors'], accepted: false },
  auditorApprover: { groups: ['fdwg-auditors', 'fdwg-approvers'], accepted: false },
  admin: { groups: ['fdwg', 'fdwg-admins'], accepted: true },
  adminOnly: { groups: ['fdwg-admins'], accepted: false },
} as const;
type Kind = keyof typeof kinds;
const order = Object.keys(kinds) as Kind[];

// One column per kind, in the order above: ok, 401, or the 403 code (NA not_admitted, AR
// agreement_required, F forbidden).
const expected: Record<Action, string> = {
  //                     anon  outsider newMember member approver auditor aud+appr admin adminOnly
  health: '              ok    ok       ok        ok     ok       ok      ok       ok    ok',
  // The guard lets everyone through; the route itself refuses any caller without the scraper's token.
  metrics: '             ok    ok       ok        ok     ok       ok      ok       ok    ok',
  public: '              ok    ok       ok        ok     ok       ok      ok       ok    ok',
  signin: '              ok    ok       ok        ok     ok       ok      ok       ok    ok',
  'home.read': '         ok    NA       ok        ok     ok       ok      ok       ok    ok',
  'me.read': '           401   ok       ok        ok     ok       ok      ok       ok    ok',
  signout: '             401   ok       ok        ok     ok       ok      ok       ok    ok',
  'agreement.accept': '  401   NA       ok        ok     ok       NA      NA       ok    NA',
  'credentials.issue': ' 401   NA       AR        ok     ok       NA      NA       ok    NA',
  'credentials.revoke': '401   NA       ok        ok     ok       NA      NA       ok    NA',
  'requests.read': '     401   NA       ok        ok     ok       NA      NA       ok    NA',
  'requests.create': '   401   NA       AR        ok     ok       NA      NA       ok    NA',
  'requests.withdraw': ' 401   NA       ok        ok     ok       NA      NA       ok    NA',
  'requests.relinquish': '401  NA       ok        ok     ok       NA      NA       ok    NA',
  'approvals.read': '    401   F        F         F      ok       F       F        ok    ok',
  'requests.review': '   401   F        F         F      ok       F       F        F     F',
  'grants.revoke': '     401   F        F         F      ok       F       F        ok    ok',
  'admin.read': '        401   F        F         F      F        F       F        ok    ok',
  'admin.sessions.end': '401   F        F         F      F        F       F        ok    ok',
  'audit.read': '        401   F        F         F      F        ok      ok       F     F',
  'audit.subjects': '    401   F        F         F      F        ok      ok       F     F',
  'cli.login': '         401   NA       AR        ok     ok       ok      ok       ok    ok',
};
const short: Record<string, string> = { not_admitted: 'NA', agreement_required: 'AR', forbidden: 'F', unauthenticated: '401' };

function answer(action: Action, kind: Kind): string {
  const k = kinds[kind];
  const refusal = decide(action, k && { standing: standingOf(k.groups, admission), agreement: { version: 'v1', accepted: k.accepted } });
  return refusal ? short[refusal.code]! : 'ok';
}

describe('the rule table', () => {
  test('every action, every kind of person: the answers written out above', () => {
    expect(Object.keys(expected).sort()).toEqual(Object.keys(actions).sort());
    for (const action of Object.keys(actions) as Action[]) {
      const want = expected[action].trim().split(/\s+/);
      expect(order.map((k) => answer(action, k)), action).toEqual(want);
    }
  });

  test('the refusals of privileged actions are the ones on the access log', () => {
    const recorded = (Object.keys(actions) as Action[]).filter((a) => actions[a].recorded).sort();
    expect(recorded).toEqual(['admin.read', 'admin.sessions.end', 'approvals.read', 'audit.read', 'audit.subjects', 'credentials.issue', 'grants.revoke', 'requests.create', 'requests.review']);
  });

  test('refusals say why in the words the pages and the API have always used', () => {
    const auditor = { standing: standingOf(['fdwg-auditors'], admission) };
    expect(decide('audit.read', null)).toMatchObject({ code: 'unauthenticated', message: 'Sign in first (GET /auth/login).' });
    expect(decide('audit.read', { standing: standingOf(['fdwg'], admission) })?.message).toBe('The access log is open to auditors only.');
    expect(decide('requests.review', auditor)).toMatchObject({ code: 'forbidden', message: 'Only approvers decide PII requests.', reason: 'an auditor (auditors never decide)' });
    expect(decide('requests.read', auditor)?.message).toBe('PII requests are for FDWG members only.');
    expect(decide('credentials.issue', { standing: standingOf(['fdwg'], admission), agreement: { version: '2026-11', accepted: false } })?.message).toBe(
      'Accept the data-use agreement version 2026-11 first.',
    );
    expect(() => assertAllowed('admin.read', auditor)).toThrow(AppError);
    expect(refusalCodes('credentials.issue').sort()).toEqual(['agreement_required', 'not_admitted']);
    expect(refusalCodes('public')).toEqual([]);
  });

  test('a rule that needs the agreement refuses to decide without it, rather than guess', () => {
    expect(() => decide('credentials.issue', { standing: standingOf(['fdwg'], admission) })).toThrow(/agreement/);
  });

  test('the header links are the sections of the table a standing opens, in order', () => {
    const links = (groups: string[]) => navLinks(standingOf(groups, admission)).map((l) => l.label);
    expect(navLinks(undefined)).toEqual([]);
    expect(links(['packager'])).toEqual([]);
    expect(links(['fdwg'])).toEqual(['Requests']);
    expect(links(['fdwg', 'fdwg-approvers'])).toEqual(['Requests', 'Approvals']);
    expect(links(['fdwg', 'fdwg-admins'])).toEqual(['Requests', 'Approvals', 'Admin']);
    expect(links(['fdwg-auditors', 'fdwg-approvers'])).toEqual(['Access log']);
  });

  test('the markdown table (the README section) has a row per action, with its routes', () => {
    const md = ruleTableMarkdown(new Map([['audit.read', ['GET /audit']]]));
    expect(md.split('\n')).toHaveLength(2 + Object.keys(actions).length);
    expect(md).toContain('| `audit.read` the access log: pages, exports and API | auditors | 401, 403 `forbidden` | `access.denied` | `GET /audit` |');
  });

  test('README.md holds the table as the rules and the routes render it today', () => {
    const table = readmeRuleTable();
    // The routes come from the app itself: an action the app serves is never shown without them.
    expect(table).toContain('| `audit.subjects` ');
    expect(table).toContain('`GET /audit/subjects/:username`<br>`GET /api/audit/subjects/:username`');
    expect(table).toContain('`GET`/`POST /cli/authorize`');
    expect(ruleTableSection(readReadme()), 'README.md\'s rule table is out of date: run `npm run docs:rules`').toBe(table);
  });

  test('the table is written between the markers, and only there', () => {
    const readme = 'intro\n<!-- rules:begin -->\n| old |\n<!-- rules:end -->\nrest\n';
    expect(withRuleTable(readme, '| new |')).toBe('intro\n<!-- rules:begin -->\n| new |\n<!-- rules:end -->\nrest\n');
    expect(() => withRuleTable('no markers', '| new |')).toThrow(/markers/);
  });
});

describe('standing', () => {
  test('separation of duties: an auditor is never an approver, whatever other groups', () => {
    expect(standingOf(['fdwg-auditors', 'fdwg-approvers', 'fdwg'], admission)).toEqual({ member: true, approver: false, auditor: true, admin: false });
    expect(standingOf(['fdwg-approvers'], admission)).toEqual({ member: false, approver: true, auditor: false, admin: false });
  });
});

describe('rules about one request', () => {
  test('nobody decides their own request; one vote each; granted only to someone still admitted', () => {
    expect(reviewBlock('bob', { id: 7, requester: 'bob', reviewers: [] })).toMatchObject({ code: 'forbidden' });
    expect(reviewBlock('bob', { id: 7, requester: 'alice', reviewers: ['bob'] })).toMatchObject({ code: 'conflict', message: 'You have already reviewed request #7; it needs another approver.' });
    expect(reviewBlock('dave', { id: 7, requester: 'alice', reviewers: ['bob'] })).toBeNull();
    expect(requesterStillAdmitted(['fdwg'], true, admission)).toBe(true);
    expect(requesterStillAdmitted(['fdwg'], false, admission)).toBe(false);
    expect(requesterStillAdmitted(['packager'], true, admission)).toBe(false);
    expect(requesterStillAdmitted(null, true, admission)).toBe(false);
  });
});
