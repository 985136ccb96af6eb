// Admission: FDWG membership (from the issuer's groups) and acceptance of the current agreement.
import { and, eq, sql } from 'drizzle-orm';
import { type Action, decide } from '../access/rules.js';
import { standingOf } from '../access/standing.js';
import { appendAudit } from '../audit/log.js';
import type { AdmissionFacts } from '../auth/dal.js';
import type { Identity, Standing } from '../auth/identity.js';
import type { ControlDb } from '../db/client.js';
import { agreementAcceptances, analysts } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { Policy } from '../policy/schema.js';
import { analystRoleName } from '../provisioner/role-name.js';

export interface AnalystRecord {
  id: number;
  username: string;
  roleName: string;
}

export interface GateStatus {
  standing: Standing;
  agreement: { version: string; title: string; accepted: boolean; acceptedAt: string | null };
  admitted: boolean;
  analyst: AnalystRecord | null;
  /** The analyst's live credential lease, when it was read with the facts (the session's statement). */
  liveLease?: AdmissionFacts['liveLease'];
}

/** The analyst record of a username and its acceptance of an agreement version (placeholders). */
function statusQuery(db: ControlDb) {
  return db
    .select({
      id: analysts.id,
      username: analysts.username,
      roleName: analysts.roleName,
      acceptedAt: agreementAcceptances.acceptedAt,
    })
    .from(analysts)
    .leftJoin(
      agreementAcceptances,
      and(eq(agreementAcceptances.analystId, analysts.id), eq(agreementAcceptances.version, sql.placeholder('version'))),
    )
    .where(eq(analysts.username, sql.placeholder('username')))
    .prepare('gate_status');
}

export class GateService {
  // On every request that needs admission: built once, prepared once per connection.
  private readonly statusQuery;

  constructor(
    private readonly db: ControlDb,
    private readonly policy: Policy,
    private readonly rolePrefix: string,
  ) {
    this.statusQuery = statusQuery(db);
  }

  /** Where the identity stands under the policy (src/access/standing.ts). */
  standing(identity: Identity): Standing {
    return standingOf(identity.groups, this.policy.admission);
  }

  /**
   * Called once per completed sign-in. Members get (or keep) their analyst record; anyone else is
   * refused and gets nothing but an audit event. A known analyst's record keeps the groups of this
   * sign-in, member or not any more (what a later approval of their request goes by).
   */
  async recordLogin(identity: Identity): Promise<{ standing: Standing; wasAnalyst: boolean }> {
    const standing = this.standing(identity);
    const staff = standing.auditor || standing.admin;
    return this.db.transaction(async (tx) => {
      const [known] = await tx.select({ id: analysts.id }).from(analysts).where(eq(analysts.username, identity.username)).limit(1);
      if (standing.member) {
        const roleName = await analystRoleName(this.rolePrefix, identity.username);
        await tx
          .insert(analysts)
          .values({ username: identity.username, subject: identity.sub, email: identity.email, roleName, lastLoginAt: new Date(), lastGroups: identity.groups })
          .onConflictDoUpdate({
            target: analysts.username,
            set: { subject: identity.sub, email: identity.email, lastLoginAt: new Date(), lastGroups: identity.groups },
          });
      } else if (known) {
        await tx.update(analysts).set({ lastLoginAt: new Date(), lastGroups: identity.groups }).where(eq(analysts.id, known.id));
      }
      await appendAudit(tx, {
        action: standing.member || staff ? 'login' : 'gate.refused',
        actor: identity.username,
        subject: identity.username,
        details: standing.member || staff
          ? { groups: identity.groups }
          : { reason: 'not a member of any FDWG group', groups: identity.groups },
      });
      return { standing, wasAnalyst: Boolean(known) };
    });
  }

  /** Where the identity stands and whether it is admitted; `tx` reads it inside a transaction. */
  async status(identity: Identity, tx?: ControlDb): Promise<GateStatus> {
    const query = tx ? statusQuery(tx) : this.statusQuery;
    const [row] = await query.execute({ username: identity.username, version: this.policy.agreement.version });
    return this.statusFrom(identity, { analyst: row ? { id: row.id, username: row.username, roleName: row.roleName } : null, acceptedAt: row?.acceptedAt ?? null });
  }

  /** The status from admission facts already read this request (with the session, in one statement). */
  statusFrom(identity: Identity, facts: AdmissionFacts): GateStatus {
    const standing = this.standing(identity);
    const accepted = Boolean(facts.analyst && facts.acceptedAt);
    return {
      standing,
      agreement: { version: this.policy.agreement.version, title: this.policy.agreement.title, accepted, acceptedAt: accepted ? facts.acceptedAt!.toISOString() : null },
      admitted: standing.member && accepted,
      analyst: facts.analyst && standing.member ? facts.analyst : null,
      ...(facts.liveLease !== undefined ? { liveLease: facts.analyst && standing.member ? facts.liveLease : null } : {}),
    };
  }

  /** A refresh that brought other groups: the analyst record keeps the newest word. */
  async recordGroups(identity: Identity): Promise<void> {
    await this.db.update(analysts).set({ lastGroups: identity.groups }).where(eq(analysts.username, identity.username));
  }

  /**
   * The analyst record of someone admitted for `action` (its rule in src/access/rules.ts); throws
   * that rule's refusal otherwise. Routes have checked it already; this also finds the record.
   */
  async requireAdmitted(
    identity: Identity,
    action: Extract<Action, 'credentials.issue' | 'requests.create'> = 'credentials.issue',
    tx?: ControlDb,
  ): Promise<AnalystRecord> {
    return this.admittedIn(await this.status(identity, tx), action);
  }

  /** requireAdmitted on a status already read (with other facts, in one statement). */
  admittedIn(s: GateStatus, action: Extract<Action, 'credentials.issue' | 'requests.create'>): AnalystRecord {
    const refusal = decide(action, { standing: s.standing, agreement: s.agreement });
    if (refusal) throw new AppError(refusal.code, refusal.message);
    if (!s.analyst) throw new AppError('not_admitted', 'Only members of the FDWG group are admitted to the warehouse.');
    return s.analyst;
  }

  /** The agreement version in force (what acceptance is checked against). */
  get agreementVersion(): string {
    return this.policy.agreement.version;
  }

  async acceptAgreement(identity: Identity, version: string): Promise<void> {
    if (version !== this.policy.agreement.version) {
      throw new AppError('conflict', `Agreement version ${version} is not the current one (${this.policy.agreement.version}).`, {
        currentVersion: this.policy.agreement.version,
      });
    }
    const s = await this.status(identity);
    const refusal = decide('agreement.accept', { standing: s.standing });
    if (refusal) throw new AppError(refusal.code, refusal.message);
    if (!s.analyst) throw new AppError('not_admitted', 'Only members of the FDWG group can accept the data-use agreement.');
    if (s.agreement.accepted) return;
    const analyst = s.analyst;
    await this.db.transaction(async (tx) => {
      const inserted = await tx
        .insert(agreementAcceptances)
        .values({ analystId: analyst.id, version })
        .onConflictDoNothing()
        .returning({ id: agreementAcceptances.id });
      // A double click must not log two acceptances.
      if (inserted.length === 0) return;
      await appendAudit(tx, {
        action: 'agreement.accepted',
        actor: identity.username,
        subject: identity.username,
        details: { version },
      });
    });
  }
}

