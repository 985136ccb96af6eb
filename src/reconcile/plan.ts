// Diffs the warehouse (inspect.ts) against what must hold (desired.ts) into an ordered list of SQL
// steps. Pure: no I/O, so the admin page, the CLI and the scheduled run all see the same plan.
//
// Who can run a step (`runAs`), found with a real PG18 cluster: the gate's login (CREATEROLE, not
// superuser, holding the groups WITH ADMIN, INHERIT FALSE, SET FALSE) can create roles, change
// LOGIN on roles it administers, grant groups it administers, and revoke only memberships it
// granted itself (a REVOKE of someone else's grant is a silent NOTICE, hence GRANTED BY below).
// It can NOT grant or revoke table, schema or database privileges, nor default privileges: those
// need the object owner or a superuser ("dba" steps, applied by `npm run reconcile -- --apply`
// with a DBA URL; the gate's own runs report them).
import type { Policy } from '../policy/schema.js';
import { passwordCheckSql } from '../provisioner/bootstrap.js';
import { analystRoleSettings, managedRoles } from '../provisioner/roles.js';
import { quoteIdent as qi, quoteLiteral, supportsGrantOptions } from '../provisioner/sql.js';
import { type GateState, type Privilege, desiredGroups, privilegeKey, pseudonymizedTableMatcher } from './desired.js';
import type { AclEntry, MembershipRow, WarehouseState } from './inspect.js';

export type StepKind = 'converge' | 'drift' | 'leak';

export interface Step {
  sql: string;
  /** converge: follows from the policy or the gate's state (new group, approved grant); drift: the
   *  warehouse says something it must not (or lost something it must say); leak: the leak guard. */
  kind: StepKind;
  /** One human line. */
  reason: string;
  runAs: 'gate' | 'dba';
  /** Runs after COMMIT: sessions are ended only once the NOLOGIN / REVOKE is visible to everyone. */
  afterCommit?: boolean;
  /** Steps with the same `merge.head` and `merge.tail` may run as one statement listing every
   *  `merge.item` (GRANT g TO a, b, c): each role grant re-checks the gate's ADMIN through its
   *  memberships, which costs more as analysts accumulate, so one statement per group is cheaper. */
  merge?: { head: string; item: string; tail: string };
  /** Analyst username when the step is about one. */
  subject?: string;
  /** A grant to the pseudonymized tier: withheld while the leak guard has a hit. */
  pseudonymizedGrant?: boolean;
  /** For the audit log: role and object names, never data values. */
  details: Record<string, unknown>;
}

export interface PlanInput {
  policy: Pick<Policy, 'tiers' | 'pii_datasets' | 'credentials'>;
  prefix: string;
  warehouse: WarehouseState;
  gate: GateState;
  /** Pseudonymized tables (`schema.table`) the leak guard flagged: never granted, revoked if granted. */
  leakTables?: Set<string>;
}

const ORDER = ['setup', 'role', 'attr', 'setting', 'revoke-member', 'grant-member', 'revoke-priv', 'grant-priv', 'default', 'terminate'] as const;
type Phase = (typeof ORDER)[number];

/** `schema.table`: governed schema names never contain a dot (policy), a table name may. */
const qualified = (name: string) => {
  const dot = name.indexOf('.');
  return `${qi(name.slice(0, dot))}.${qi(name.slice(dot + 1))}`;
};
const object = (p: Pick<Privilege, 'kind' | 'object'>) =>
  p.kind === 'table' ? `TABLE ${qualified(p.object)}` : `${p.kind.toUpperCase()} ${qi(p.object)}`;
const grantee = (g: string) => (g === 'PUBLIC' ? 'PUBLIC' : qi(g));
/** A setting's name as SET/RESET take it: `work_mem`, `pgaudit.log` (each part quoted). */
const settingName = (name: string) => name.split('.').map(qi).join('.');
/** `name=value` from pg_db_role_setting; the value may itself hold `=`. */
const splitSetting = (entry: string): [string, string] => {
  const eq = entry.indexOf('=');
  return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
};
const terminateSql = (role: string) =>
  `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = ${quoteLiteral(role)} AND pid <> pg_backend_pid()`;

export function planReconcile(input: PlanInput): Step[] {
  const { warehouse: w, prefix } = input;
  const pg16 = supportsGrantOptions(w.serverVersionNum);
  const groups = desiredGroups(input.policy, prefix);
  const { controlOwner } = managedRoles(prefix);
  const groupSet = new Set(groups.all);
  const analysts = new Map(input.gate.analysts.map((a) => [a.role, a]));
  const leak = input.leakTables ?? new Set<string>();
  const steps: (Step & { phase: Phase })[] = [];
  const add = (phase: Phase, s: Step) => steps.push({ ...s, phase });

  const exists = (role: string) => w.roles.has(role);
  // PG16+: the gate may alter or grant a role only with ADMIN on it. PG15: CREATEROLE is enough.
  const gateAdmins = (role: string) =>
    !pg16 || w.memberships.some((m) => m.group === role && m.member === groups.gate && m.admin) || !exists(role);
  const revokeMember = (m: MembershipRow, kind: StepKind, reason: string, subject?: string) =>
    add('revoke-member', {
      sql: `REVOKE ${qi(m.group)} FROM ${qi(m.member)}${pg16 ? ` GRANTED BY ${qi(m.grantor)}` : ''}`,
      kind,
      reason,
      runAs: !pg16 || m.grantor === groups.gate ? 'gate' : 'dba',
      subject,
      details: { group: m.group, member: m.member, grantor: m.grantor },
    });

  // 1. Group roles exist and cannot log in.
  for (const g of groups.all) {
    const role = w.roles.get(g);
    if (!role) {
      add('role', { sql: `CREATE ROLE ${qi(g)} NOLOGIN`, kind: 'converge', reason: `create group role ${g}`, runAs: 'gate', details: { role: g } });
    } else if (role.login) {
      add('attr', { sql: `ALTER ROLE ${qi(g)} NOLOGIN`, kind: 'drift', reason: `group role ${g} can log in`, runAs: gateAdmins(g) ? 'gate' : 'dba', details: { role: g } });
    }
  }

  // 2. LOGIN only while a live credential exists; roles under the prefix nobody knows are disabled.
  for (const role of w.roles.values()) {
    if (role.superuser || role.name === groups.gate || role.name === controlOwner || groupSet.has(role.name)) continue;
    const analyst = analysts.get(role.name);
    if (analyst && (!role.login || analyst.liveCredential)) continue;
    if (!analyst && !role.login) continue;
    const reason = analyst
      ? `analyst role ${role.name} (${analyst.username}) has LOGIN but no live credential`
      : `role ${role.name} has the gate's prefix but is neither a managed group nor a known analyst: disabled`;
    // The sessions end only where the NOLOGIN runs too (else the role could just reconnect).
    const runAs = gateAdmins(role.name) ? 'gate' : 'dba';
    add('attr', {
      sql: `ALTER ROLE ${qi(role.name)} WITH NOLOGIN PASSWORD NULL VALID UNTIL '-infinity'`,
      kind: 'drift',
      reason,
      runAs,
      subject: analyst?.username,
      details: { role: role.name, drift: analyst ? 'login_without_credential' : 'unknown_role' },
    });
    add('terminate', { sql: terminateSql(role.name), kind: 'drift', reason: `end the sessions of ${role.name}`, runAs, afterCommit: true, subject: analyst?.username, details: { role: role.name } });
  }

  // 2b. A password the gate did not set (PostgreSQL lets a login ALTER ROLE <itself> PASSWORD): the
  // role loses LOGIN and its password, its sessions end; the analyst gets a new credential from the
  // gate. Needs the bootstrap's password check; without it, a DBA step installs it.
  if (w.passwords === null) {
    for (const sql of passwordCheckSql(prefix)) {
      add('setup', {
        sql,
        kind: 'converge',
        reason: 'install the password check (bootstrap): without it a password an analyst set herself goes unnoticed',
        runAs: 'dba',
        details: { setup: 'password_check' },
      });
    }
  }
  for (const role of w.roles.values()) {
    const analyst = analysts.get(role.name);
    if (!analyst || !role.login || !analyst.liveCredential || w.passwords?.get(role.name) !== 'changed') continue;
    const runAs = gateAdmins(role.name) ? 'gate' : 'dba';
    add('attr', {
      sql: `ALTER ROLE ${qi(role.name)} WITH NOLOGIN PASSWORD NULL VALID UNTIL '-infinity'`,
      kind: 'drift',
      reason: `analyst role ${role.name} (${analyst.username}) has a password the gate did not set`,
      runAs,
      subject: analyst.username,
      details: { role: role.name, drift: 'password_not_set_by_gate' },
    });
    add('terminate', { sql: terminateSql(role.name), kind: 'drift', reason: `end the sessions of ${role.name}`, runAs, afterCommit: true, subject: analyst.username, details: { role: role.name } });
  }

  // 2c. Per-role settings: exactly the gate's, for every database, and none for one database (a
  // login may ALTER ROLE <itself> [IN DATABASE d] SET ... in a read-write transaction).
  const wantSettings = analystRoleSettings(input.policy.credentials);
  const settingsOf = new Map<string, Map<string, string>>();
  for (const row of w.roleSettings) {
    const analyst = analysts.get(row.role);
    if (!analyst || !exists(row.role)) continue;
    if (row.database === null) {
      settingsOf.set(row.role, new Map(row.config.map(splitSetting)));
      continue;
    }
    for (const [name, value] of row.config.map(splitSetting)) {
      add('setting', {
        sql: `ALTER ROLE ${qi(row.role)} IN DATABASE ${qi(row.database)} RESET ${settingName(name)}`,
        kind: 'drift',
        reason: `${analyst.username} set ${name} for database ${row.database} on her own role`,
        runAs: gateAdmins(row.role) ? 'gate' : 'dba',
        subject: analyst.username,
        details: { role: row.role, drift: 'role_setting', setting: name, value, database: row.database },
      });
    }
  }
  for (const a of input.gate.analysts) {
    if (!exists(a.role)) continue;
    const have = settingsOf.get(a.role) ?? new Map<string, string>();
    const runAs = gateAdmins(a.role) ? 'gate' : 'dba';
    for (const [name, value] of have) {
      if (name in wantSettings) continue;
      add('setting', {
        sql: `ALTER ROLE ${qi(a.role)} RESET ${settingName(name)}`,
        kind: 'drift',
        reason: `${a.username}'s role has ${name} set, which the gate does not set`,
        runAs,
        subject: a.username,
        details: { role: a.role, drift: 'role_setting', setting: name, value },
      });
    }
    for (const [name, want] of Object.entries(wantSettings)) {
      if (have.get(name) === want) continue;
      add('setting', {
        sql: `ALTER ROLE ${qi(a.role)} SET ${settingName(name)} = ${quoteLiteral(want)}`,
        kind: 'drift',
        reason: `${a.username}'s role has ${name} ${have.has(name) ? `= ${have.get(name)}` : 'unset'}; the gate sets ${want}`,
        runAs,
        subject: a.username,
        details: { role: a.role, drift: 'role_setting', setting: name, value: have.get(name) ?? null, want },
      });
    }
  }

  // 3. Memberships.
  const wantGate = (g: string) => pg16 && (g === groups.pseudonymized || [...groups.datasets.values()].includes(g));
  const analystGroups = (a: { datasets: string[] }) =>
    new Set([groups.pseudonymized, ...a.datasets.flatMap((d) => (groups.datasets.has(d) ? [groups.datasets.get(d)!] : []))]);
  const seen = new Set<string>();
  for (const m of w.memberships) {
    seen.add(`${m.group}\u0000${m.member}`);
    const analyst = analysts.get(m.member);
    if (m.member === groups.gate) {
      if (m.group === 'pg_signal_backend' || (!groupSet.has(m.group) && m.group.startsWith(prefix))) continue;
      const ok = wantGate(m.group) ? m.admin && !m.inherit && !m.set : groupSet.has(m.group) && !m.inherit && !m.set;
      if (ok) continue;
      revokeMember(m, 'drift', `the gate holds ${m.group} with options it must not have (it must never read data)`);
      if (wantGate(m.group)) seen.delete(`${m.group}\u0000${m.member}`);
    } else if (analyst) {
      const want = analystGroups(analyst).has(m.group);
      if (want && !m.admin && m.inherit && !(pg16 && m.set)) continue;
      revokeMember(
        m,
        'drift',
        want ? `${analyst.username} holds ${m.group} with the wrong options` : `${analyst.username} is a member of ${m.group} without a live grant`,
        analyst.username,
      );
      // PG15 has no SET option: a session that did SET ROLE keeps the group until it ends.
      if (!pg16 && !want) add('terminate', { sql: terminateSql(m.member), kind: 'drift', reason: `end the sessions of ${m.member} (PG15)`, runAs: 'gate' /* PG15: CREATEROLE revokes any grant */, afterCommit: true, subject: analyst.username, details: { role: m.member } });
      if (want) seen.delete(`${m.group}\u0000${m.member}`); // re-granted below with the right options
    } else if (groupSet.has(m.member)) {
      revokeMember(m, 'drift', `group role ${m.member} is a member of ${m.group}: groups are members of nothing`);
    } else if (m.member.startsWith(prefix) && m.member !== controlOwner && groupSet.has(m.group)) {
      revokeMember(m, 'drift', `unknown role ${m.member} is a member of ${m.group}`);
    }
  }
  const grantMember = (group: string, member: string, opts: string, runAs: 'gate' | 'dba', reason: string, subject?: string) => {
    if (seen.has(`${group}\u0000${member}`)) return;
    const head = `GRANT ${qi(group)} TO `;
    const tail = pg16 ? ` WITH ${opts}` : '';
    add('grant-member', { sql: `${head}${qi(member)}${tail}`, kind: 'converge', reason, runAs, subject, details: { group, member }, merge: { head, item: qi(member), tail } });
  };
  if (exists(groups.gate)) {
    // A group the gate creates itself comes with ADMIN (the step is then pending and gone at the
    // next run); one created by a DBA needs this grant.
    for (const g of groups.all.filter(wantGate)) grantMember(g, groups.gate, 'ADMIN TRUE, INHERIT FALSE, SET FALSE', 'dba', `the gate administers ${g}`);
  }
  for (const a of input.gate.analysts) {
    if (!exists(a.role)) continue; // created at the analyst's first credential
    for (const g of analystGroups(a)) {
      // Recorded as granted by the gate even when a superuser applies it, so the gate can revoke it.
      grantMember(g, a.role, `INHERIT TRUE, SET FALSE GRANTED BY ${qi(groups.gate)}`, gateAdmins(g) ? 'gate' : 'dba', g === groups.pseudonymized ? `${a.username} reads the pseudonymized tier` : `${a.username} has a live grant of ${g}`, a.username);
    }
  }

  // 4. Object privileges: exactly the desired ones, for PUBLIC, the groups, the gate and analysts.
  const desired = new Map<string, Privilege>();
  const want = (p: Privilege) => desired.set(privilegeKey(p), p);
  const isPseudo = pseudonymizedTableMatcher(input.policy);
  want({ kind: 'database', object: w.database.name, grantee: groups.pseudonymized, privilege: 'CONNECT' });
  if (exists(groups.gate)) want({ kind: 'database', object: w.database.name, grantee: groups.gate, privilege: 'CONNECT' });
  for (const s of input.policy.tiers.pseudonymized.schemas) {
    if (w.schemas.some((x) => x.name === s)) want({ kind: 'schema', object: s, grantee: groups.pseudonymized, privilege: 'USAGE' });
  }
  const tables = new Set(w.tables.map((t) => `${t.schema}.${t.name}`));
  for (const d of input.policy.pii_datasets) {
    const role = groups.datasets.get(d.name)!;
    for (const s of new Set(d.tables.map((t) => t.split('.')[0]!))) {
      if (w.schemas.some((x) => x.name === s)) want({ kind: 'schema', object: s, grantee: role, privilege: 'USAGE' });
    }
    for (const t of d.tables) if (tables.has(t)) want({ kind: 'table', object: t, grantee: role, privilege: 'SELECT' });
  }
  const piiSchemas = new Set(input.policy.tiers.pii.schemas);
  for (const t of w.tables) {
    const name = `${t.schema}.${t.name}`;
    if (piiSchemas.has(t.schema)) want({ kind: 'table', object: name, grantee: groups.piiAudit, privilege: 'SELECT' });
    else if (isPseudo(t.schema, t.name) && !leak.has(name)) want({ kind: 'table', object: name, grantee: groups.pseudonymized, privilege: 'SELECT' });
  }
  const governed = (g: string) => g === 'PUBLIC' || groupSet.has(g) || g === groups.gate || analysts.has(g);
  const existing = new Set<string>();
  const consider = (kind: Privilege['kind'], obj: string, owner: string, acl: AclEntry[]) => {
    for (const e of acl) {
      if (e.grantee === owner || !governed(e.grantee)) continue;
      const p: Privilege = { kind, object: obj, grantee: e.grantee, privilege: e.privilege };
      const key = privilegeKey(p);
      existing.add(key);
      if (desired.has(key)) continue;
      const leaked = kind === 'table' && leak.has(obj) && e.grantee === groups.pseudonymized;
      const analyst = analysts.get(e.grantee);
      add('revoke-priv', {
        sql: `REVOKE ${e.privilege} ON ${object(p)} FROM ${grantee(e.grantee)}`,
        kind: leaked ? 'leak' : 'drift',
        reason: leaked
          ? `the leak guard flagged ${obj}: the pseudonymized tier loses it`
          : analyst
            ? `${analyst.username} holds ${e.privilege} on ${kind} ${obj} directly (analysts read only through groups)`
            : `${e.grantee} holds ${e.privilege} on ${kind} ${obj}, which the policy does not give`,
        runAs: 'dba',
        subject: analyst?.username,
        details: { grantee: e.grantee, privilege: e.privilege, object: `${kind} ${obj}` },
      });
    }
  };
  consider('database', w.database.name, w.database.owner, w.database.acl);
  for (const s of w.schemas) consider('schema', s.name, s.owner, s.acl);
  for (const t of w.tables) consider('table', `${t.schema}.${t.name}`, t.owner, t.acl);
  for (const [key, p] of desired) {
    if (existing.has(key) || !(exists(p.grantee) || groupSet.has(p.grantee))) continue;
    const pseudo = p.grantee === groups.pseudonymized && p.kind === 'table';
    add('grant-priv', {
      sql: `GRANT ${p.privilege} ON ${object(p)} TO ${grantee(p.grantee)}`,
      kind: 'drift',
      reason: `${p.grantee} is missing ${p.privilege} on ${p.kind} ${p.object}`,
      runAs: 'dba',
      pseudonymizedGrant: pseudo,
      details: { grantee: p.grantee, privilege: p.privilege, object: `${p.kind} ${p.object}` },
    });
  }

  // 5. Default privileges: only pgaudit's role, on new PII tables (new pseudonymized tables wait
  // for the leak guard, so nobody gets them by default).
  const auditDefaults = new Set<string>();
  for (const d of w.defaultAcls) {
    const ok = d.grantee === groups.piiAudit && d.privilege === 'SELECT' && d.schema !== null && piiSchemas.has(d.schema);
    if (ok) {
      auditDefaults.add(`${d.owner}\u0000${d.schema}`);
      continue;
    }
    if (!governed(d.grantee)) continue;
    add('default', {
      sql: `ALTER DEFAULT PRIVILEGES FOR ROLE ${qi(d.owner)}${d.schema ? ` IN SCHEMA ${qi(d.schema)}` : ''} REVOKE ${d.privilege} ON TABLES FROM ${grantee(d.grantee)}`,
      kind: 'drift',
      reason: `new tables ${d.schema ? `in ${d.schema} ` : ''}created by ${d.owner} would give ${d.grantee} ${d.privilege}`,
      runAs: 'dba',
      details: { owner: d.owner, schema: d.schema, grantee: d.grantee, privilege: d.privilege },
    });
  }
  for (const s of w.schemas.filter((x) => piiSchemas.has(x.name))) {
    if ([...auditDefaults].some((k) => k.endsWith(`\u0000${s.name}`)) || !(exists(groups.piiAudit) || groupSet.has(groups.piiAudit))) continue;
    add('default', {
      sql: `ALTER DEFAULT PRIVILEGES FOR ROLE ${qi(s.owner)} IN SCHEMA ${qi(s.name)} GRANT SELECT ON TABLES TO ${qi(groups.piiAudit)}`,
      kind: 'drift',
      reason: `new PII tables in ${s.name} would not be covered by pgaudit`,
      runAs: 'dba',
      details: { owner: s.owner, schema: s.name, grantee: groups.piiAudit },
    });
  }

  return steps
    .map((s, i) => ({ s, i }))
    .sort((a, b) => ORDER.indexOf(a.s.phase) - ORDER.indexOf(b.s.phase) || a.i - b.i)
    .map(({ s: { phase: _phase, ...step } }) => step);
}
