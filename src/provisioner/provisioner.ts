// The only code that changes the warehouse. It connects as `<prefix>gate` (CREATEROLE, not
// superuser). Every identifier is quoted; the only literals are a SCRAM verifier and timestamps
// produced by the gate itself.
import type pg from 'pg';
import type { Policy } from '../policy/schema.js';
import { recordPasswordSql } from './bootstrap.js';
import { type ManagedRoles, analystRoleSettings, managedRoles } from './roles.js';
import { terminateRoleSessions, waitUntilGone } from './sessions.js';
import { quoteIdent as qi, quoteLiteral, supportsGrantOptions } from './sql.js';

const VERIFIER = /^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/;

export interface IssueOptions {
  verifier: string;
  validUntil: Date;
}

/** Identifies one membership in revokeDatasets' result. */
export const membershipKey = (role: string, groupRole: string) => `${role} in ${groupRole}`;

/** The warehouse steps of ending memberships, each reported with its wall-clock milliseconds (benches). */
export type StepRecorder = (step: 'revoke' | 'terminate' | 'wait' | 'check', ms: number) => void;

/** step(name) reports the time since the previous call (or the start) as `name`; a no-op without a recorder. */
function stepTimer(record: StepRecorder | undefined): (step: Parameters<StepRecorder>[0]) => void {
  if (!record) return () => {};
  let last = performance.now();
  return (step) => {
    const now = performance.now();
    // Accumulated per name by the recorder; a step reported twice adds up.
    record(step, now - last);
    last = now;
  };
}

/** PostgreSQL's undefined_object (42704): the role named is not there. */
const isRoleGone = (err: unknown) => (err as { code?: string } | undefined)?.code === '42704';

export class Provisioner {
  readonly roles: ManagedRoles;
  private versionNum?: number;
  /** Roles this process has already set up; saves six round trips on every later issue. */
  private readonly ready = new Set<string>();
  /** Whether the bootstrap's password record function is there (false once it was found missing). */
  private recordsPasswords = true;

  constructor(
    private readonly pool: pg.Pool,
    private readonly prefix: string,
    private readonly credentialsPolicy: Policy['credentials'],
  ) {
    this.roles = managedRoles(prefix);
  }

  async serverVersionNum(via: pg.Pool | pg.PoolClient = this.pool): Promise<number> {
    if (this.versionNum === undefined) {
      const { rows } = await via.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
      this.versionNum = Number(rows[0]!.v);
    }
    return this.versionNum;
  }

  /**
   * Makes sure the analyst's role exists, without LOGIN, in the pseudonymized tier. Roles are never
   * dropped (dropping fails while they hold privileges); ending access disables them instead.
   */
  async ensureAnalystRole(role: string, on?: pg.PoolClient): Promise<void> {
    if (this.ready.has(role)) return;
    // On the caller's reserved connection when it holds one: taking a second from the pool while
    // holding the first could wait forever once every connection is held that way.
    const via = on ?? this.pool;
    const exists = await via.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [role]);
    if (exists.rowCount === 0) {
      try {
        await via.query(`CREATE ROLE ${qi(role)} NOLOGIN INHERIT NOCREATEDB NOCREATEROLE NOREPLICATION`);
      } catch (err) {
        // Two first logins at once: the other one created it.
        if ((err as { code?: string }).code !== '42710') throw err;
      }
    }
    const grantOpts = supportsGrantOptions(await this.serverVersionNum(via)) ? ' WITH INHERIT TRUE, SET FALSE' : '';
    const c = on ?? (await this.pool.connect());
    try {
      await c.query('BEGIN');
      await c.query(`GRANT ${qi(this.roles.pseudonymized)} TO ${qi(role)}${grantOpts}`);
      // Defaults only: an analyst can SET these away, so read-only really comes from privileges.
      for (const [name, value] of Object.entries(analystRoleSettings(this.credentialsPolicy))) {
        await c.query(`ALTER ROLE ${qi(role)} SET ${qi(name)} = ${quoteLiteral(value)}`);
      }
      await c.query('COMMIT');
      this.ready.add(role);
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      if (!on) (c as pg.PoolClient).release();
    }
  }

  /**
   * A warehouse connection checked out ahead of need. A pool checkout answers a tick later, after
   * whatever else the caller does in between; a credential issue checks one out when it starts,
   * so its ALTER ROLE goes out the moment the admission check allows it. Release it after.
   */
  reserve(): Promise<pg.PoolClient> {
    return this.pool.connect();
  }

  /**
   * Sets a new password (as a verifier: the plaintext never reaches the server) and opens LOGIN;
   * on `on` (a reserved connection) when given.
   */
  async issue(role: string, { verifier, validUntil }: IssueOptions, on?: pg.PoolClient): Promise<void> {
    if (!VERIFIER.test(verifier)) throw new Error('refusing to send something that is not a SCRAM verifier');
    try {
      await this.alterForIssue(role, verifier, validUntil, on ?? this.pool);
    } catch (err) {
      // Someone dropped the role behind our back: set it up again, once.
      if (!isRoleGone(err)) throw err;
      this.ready.delete(role);
      await this.ensureAnalystRole(role, on);
      await this.alterForIssue(role, verifier, validUntil, on ?? this.pool);
    }
  }

  private async alterForIssue(role: string, verifier: string, validUntil: Date, via: pg.Pool | pg.PoolClient): Promise<void> {
    const alter = `ALTER ROLE ${qi(role)} WITH LOGIN PASSWORD ${quoteLiteral(verifier)} VALID UNTIL ${quoteLiteral(
      validUntil.toISOString(),
    )} CONNECTION LIMIT ${Math.trunc(this.credentialsPolicy.connection_limit)}`;
    if (this.recordsPasswords) {
      try {
        // Two statements in one simple query run as one transaction, in one round trip: the
        // password and the record the reconciler later compares it with commit together, so a
        // password the analyst sets herself is caught even before the next reconcile.
        await via.query(`${alter}; ${recordPasswordSql(this.prefix, role)}`);
        return;
      } catch (err) {
        // A bootstrap from before the check (no function, schema or EXECUTE): the reconciler
        // lists it as a DBA step; credentials keep working meanwhile.
        if (!['42883', '3F000', '42501'].includes((err as { code?: string }).code ?? '')) throw err;
        this.recordsPasswords = false;
      }
    }
    await via.query(alter);
  }

  /**
   * Ends access: first NOLOGIN (so the role cannot reconnect), then terminate live sessions.
   * Returns how many sessions were ended.
   */
  async revoke(role: string): Promise<number> {
    await this.pool.query(`ALTER ROLE ${qi(role)} WITH NOLOGIN PASSWORD NULL VALID UNTIL '-infinity'`);
    return this.terminateSessions(role);
  }

  /** revoke, for a role that may not exist (never provisioned, or dropped by hand): then 0 sessions ended. */
  async revokeIfExists(role: string): Promise<number> {
    try {
      return await this.revoke(role);
    } catch (err) {
      if (isRoleGone(err)) return 0;
      throw err;
    }
  }

  async terminateSessions(role: string): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n
         FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`,
      [role],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Lets an analyst's role read PII datasets through their group roles. On PostgreSQL 16+ the
   * membership is `INHERIT TRUE, SET FALSE`: privileges apply to the analyst's own queries (the
   * next query of a live session already sees the data) but the session can never `SET ROLE` into
   * the group. PostgreSQL 15 has no such option: a plain GRANT lets the analyst `SET ROLE` into the
   * group, and a session that did keeps the group's privileges after a REVOKE. That is why ending
   * access always terminates the analyst's sessions too (revokeDatasets), on every version.
   */
  async grantDatasets(role: string, groupRoles: string[]): Promise<void> {
    if (groupRoles.length === 0) return;
    const opts = supportsGrantOptions(await this.serverVersionNum()) ? ' WITH INHERIT TRUE, SET FALSE' : '';
    await this.pool.query(`GRANT ${groupRoles.map(qi).join(', ')} TO ${qi(role)}${opts}`);
  }

  /**
   * Ends dataset memberships in bulk, then terminates every affected analyst's sessions and waits
   * until they are gone (src/provisioner/sessions.ts). One REVOKE per dataset role (listing all its
   * analysts, all in one simple query; roles that are gone are left out on a second try) and one
   * terminate query for all roles keep a thousand expiries to a handful of round trips. Memberships already gone are no error
   * (REVOKE only warns), so a sweep that repeats after a crash is safe. Returns sessions ended per
   * analyst role, and the memberships that are still there afterwards: REVOKE removes only the
   * gate's own grant, so one a DBA made by hand survives it (with a mere NOTICE). The caller
   * records that instead of claiming access ended; the reconciler reports it as drift for a DBA.
   */
  async revokeDatasets(
    memberships: { role: string; groupRole: string }[],
    record?: StepRecorder,
  ): Promise<{ sessions: Map<string, number>; remaining: Set<string> }> {
    const step = stepTimer(record);
    const ended = new Map<string, number>();
    const remaining = new Set<string>();
    if (memberships.length === 0) return { sessions: ended, remaining };
    const revokeAll = (ms: { role: string; groupRole: string }[]) => {
      const byGroup = new Map<string, Set<string>>();
      for (const m of ms) byGroup.set(m.groupRole, (byGroup.get(m.groupRole) ?? new Set()).add(m.role));
      // All REVOKEs in one simple query: one round trip, one implicit transaction.
      return this.pool.query([...byGroup].map(([group, roles]) => `REVOKE ${qi(group)} FROM ${[...roles].map(qi).join(', ')}`).join(';\n'));
    };
    try {
      await revokeAll(memberships);
    } catch (err) {
      if (!isRoleGone(err)) throw err;
      // A role that is gone holds no membership: again without the roles that are gone.
      const names = [...new Set(memberships.flatMap((m) => [m.role, m.groupRole]))];
      const { rows } = await this.pool.query<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE rolname = ANY($1)`, [names]);
      const exists = new Set(rows.map((r) => r.rolname));
      const still = memberships.filter((m) => exists.has(m.role) && exists.has(m.groupRole));
      if (still.length > 0) await revokeAll(still);
    }
    step('revoke');
    // After the REVOKE committed: a session that reconnects in between already lacks the grant.
    // What survived the REVOKE is read meanwhile, on another connection.
    const left = this.pool.query<{ grp: string; member: string }>(
      `SELECT g.rolname AS grp, m.rolname AS member
         FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
        WHERE (g.rolname, m.rolname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [memberships.map((m) => m.groupRole), memberships.map((m) => m.role)],
    );
    left.catch(() => {});
    const roles = [...new Set(memberships.map((m) => m.role))];
    const terminated = await terminateRoleSessions(this.pool, roles);
    for (const r of roles) ended.set(r, 0);
    for (const b of terminated) ended.set(b.user, (ended.get(b.user) ?? 0) + 1);
    step('terminate');
    await waitUntilGone(this.pool, terminated);
    step('wait');
    for (const r of (await left).rows) remaining.add(membershipKey(r.member, r.grp));
    step('check');
    return { sessions: ended, remaining };
  }

  /** True when the warehouse answers; used by /healthz. */
  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }
}
