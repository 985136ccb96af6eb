// Admission: FDWG membership (from the issuer's groups) and acceptance of the current agreement.
import { and, eq, sql } from 'drizzle-orm';
import { appendAudit } from '../audit/log.js';
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
}

export class GateService {
  // On every request that needs admission: built once, prepared once per connection.
  private readonly statusQuery;

  constructor(
    private readonly db: ControlDb,
    private readonly policy: Policy,
    private readonly rolePrefix: string,
  ) {
    this.statusQuery = db
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

  standing(identity: Identity): Standing {
    const inAny = (groups: string[]) => groups.some((g) => identity.groups.includes(g));
    const a = this.policy.admission;
    const auditor = inAny(a.auditor_groups);
    return {
      member: inAny(a.member_groups),
      // Separation of duties: auditors review decisions, so they never make them, whatever
      // other groups they are in.
      approver: inAny(a.approver_groups) && !auditor,
      auditor,
      admin: inAny(a.admin_groups),
    };
  }

  /**
   * Called once per completed sign-in. Members get (or keep) their analyst record; anyone else is
   * refused and gets nothing but an audit event.
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
          .values({ username: identity.username, subject: identity.sub, email: identity.email, roleName, lastLoginAt: new Date() })
          .onConflictDoUpdate({
            target: analysts.username,
            set: { subject: identity.sub, email: identity.email, lastLoginAt: new Date() },
          });
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

  async status(identity: Identity): Promise<GateStatus> {
    const standing = this.standing(identity);
    const version = this.policy.agreement.version;
    const [row] = await this.statusQuery.execute({ username: identity.username, version });
    const accepted = Boolean(row?.acceptedAt);
    return {
      standing,
      agreement: { version, title: this.policy.agreement.title, accepted, acceptedAt: row?.acceptedAt?.toISOString() ?? null },
      admitted: standing.member && accepted && Boolean(row),
      analyst: row && standing.member ? { id: row.id, username: row.username, roleName: row.roleName } : null,
    };
  }

  /** Throws the precise reason when the identity may not get credentials. */
  async requireAdmitted(identity: Identity): Promise<AnalystRecord> {
    const s = await this.status(identity);
    if (!s.standing.member || !s.analyst) {
      throw new AppError('not_admitted', 'Only members of the FDWG group are admitted to the warehouse.');
    }
    if (!s.agreement.accepted) {
      throw new AppError('agreement_required', `Accept the data-use agreement version ${s.agreement.version} first.`);
    }
    return s.analyst;
  }

  async acceptAgreement(identity: Identity, version: string): Promise<void> {
    if (version !== this.policy.agreement.version) {
      throw new AppError('conflict', `Agreement version ${version} is not the current one (${this.policy.agreement.version}).`, {
        currentVersion: this.policy.agreement.version,
      });
    }
    const s = await this.status(identity);
    if (!s.standing.member || !s.analyst) {
      throw new AppError('not_admitted', 'Only members of the FDWG group can accept the data-use agreement.');
    }
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

