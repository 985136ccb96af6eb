// Short-lived password credentials for an analyst's own PostgreSQL role.
import { inRoleChangeTransaction } from '../db/role-change-lock.js';
import { appendAudit } from '../audit/log.js';
import type { Identity } from '../auth/identity.js';
import type { ControlDb } from '../db/client.js';
import { AppError } from '../errors.js';
import type { Policy } from '../policy/schema.js';
import type { Provisioner } from '../provisioner/provisioner.js';
import { PasswordSupply } from './password-supply.js';
import * as dal from './dal.js';
import type { AnalystRecord, GateService } from '../admission/service.js';

export interface IssuedCredential {
  id: number;
  roleName: string;
  /** Shown once, never stored or logged. */
  password: string;
  issuedAt: Date;
  expiresAt: Date;
  ttlSeconds: number;
  /** True when the requested lifetime was cut to the policy maximum. */
  capped: boolean;
}

export interface RevokeResult {
  sessionsEnded: number;
  leasesRevoked: number;
  /** Live PII grants ended (leaving the FDWG only). */
  piiGrantsEnded?: number;
}

/** What ends a leaver's PII access (PiiRequestService); kept narrow to avoid a cycle. */
export interface PiiAccessEnder {
  endForLeaver(analyst: Pick<AnalystRecord, 'id' | 'username'>): Promise<{ grants: number; requests: number }>;
}

export interface CredentialLease {
  id: number;
  roleName: string;
  issuedAt: Date;
  expiresAt: Date;
}

export interface CredentialServiceOptions {
  /** The clock (tests move it). */
  now?: () => Date;
  /** Ends a leaver's PII access too when their credentials are revoked. */
  piiAccess?: PiiAccessEnder;
  /** Passwords made ahead of need (src/credentials/password-supply.ts); default: made on demand. */
  passwords?: PasswordSupply;
}

export class CredentialService {
  constructor(
    private readonly db: ControlDb,
    private readonly gate: GateService,
    private readonly provisioner: Provisioner,
    private readonly policy: Policy['credentials'],
    options: CredentialServiceOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.piiAccess = options.piiAccess;
    this.liveLease = dal.prepareLiveLease(db);
    this.passwords = options.passwords ?? new PasswordSupply(0);
    this.passwords.refill();
  }

  readonly passwords: PasswordSupply;

  private readonly liveLease: ReturnType<typeof dal.prepareLiveLease>;
  private readonly now: () => Date;
  private readonly piiAccess?: PiiAccessEnder;

  async issue(identity: Identity, requestedTtl?: number): Promise<IssuedCredential> {
    const ttlSeconds = Math.min(requestedTtl ?? this.policy.ttl_default, this.policy.ttl_max);
    const issuedAt = this.now();
    const expiresAt = new Date(issuedAt.getTime() + ttlSeconds * 1000);
    // Usually made before this request came (see password-supply.ts); when not, PBKDF2 runs off
    // the main thread while the lock and the admission check are on the wire. The warehouse
    // connection is checked out meanwhile too (Provisioner.reserve).
    const fresh = this.passwords.take();
    const reserved = this.provisioner.reserve();
    fresh.catch(() => {});
    reserved.catch(() => {});
    let broken: Error | undefined;
    try {
      // The transaction's first statement takes the role-change lock; the statements below are
      // pipelined behind it (see role-change-lock.ts): the warehouse change waits for the lock.
      const { id, analyst } = await inRoleChangeTransaction(this.db, async (tx) => {
        // Standing and agreement, checked again in the transaction that records the issue, under
        // the lock; the lease id is drawn in the same statement (the audit event's hash covers it).
        const { facts, leaseId } = await dal.admissionAndLeaseId(tx, identity.username, this.gate.agreementVersion);
        const analyst = this.gate.admittedIn(this.gate.statusFrom(identity, facts), 'credentials.issue');
        const [{ verifier }, on] = await Promise.all([fresh, reserved]);
        await this.provisioner.ensureAnalystRole(analyst.roleName, on);
        // The warehouse change runs beside the control writes and is awaited before COMMIT: if it
        // fails, the transaction rolls back and no lease or event exists; if the commit fails after
        // it, a LOGIN role without a live lease is left, whose password nobody ever saw (the
        // reconciler closes it). This keeps the password's path as short as the ALTER ROLE itself.
        // It is sent first: building the control writes below costs CPU it need not wait for.
        const warehouse = this.provisioner.issue(analyst.roleName, { verifier, validUntil: expiresAt }, on);
        warehouse.catch(() => {});
        // Supersede the previous lease, record the new one and append its event: one round trip.
        const recorded = Promise.all([
          dal.supersedeAndRecord(tx, { id: leaseId, analystId: analyst.id, roleName: analyst.roleName, issuedAt, expiresAt }),
          appendAudit(tx, {
            action: 'credential.issued',
            actor: identity.username,
            subject: identity.username,
            details: { credentialId: leaseId, role: analyst.roleName, expiresAt: expiresAt.toISOString(), ttlSeconds },
          }),
        ]);
        const [written, altered] = await Promise.allSettled([recorded, warehouse]);
        if (written.status === 'rejected') throw written.reason;
        if (altered.status === 'rejected') throw altered.reason;
        return { id: leaseId, analyst };
      });
      return {
        id,
        roleName: analyst.roleName,
        password: (await fresh).password,
        issuedAt,
        expiresAt,
        ttlSeconds,
        capped: requestedTtl !== undefined && requestedTtl > this.policy.ttl_max,
      };
    } catch (err) {
      // A refusal or an SQL error leaves the connection fine; anything else (it broke mid-way, a
      // timeout) and it serves nobody else.
      if (!(err instanceof AppError) && !/^[0-9A-Z]{5}$/.test((err as { code?: string } | undefined)?.code ?? '')) broken = err as Error;
      throw err;
    } finally {
      await reserved.then((c) => c.release(broken), () => {});
      this.passwords.refill();
    }
  }

  /** The live lease, if any (not revoked, not expired). */
  async current(analystId: number): Promise<CredentialLease | null> {
    return (await this.liveLease(analystId, this.now())) ?? null;
  }

  /**
   * Ends the analyst's access now: no new logins, live sessions terminated. Works even without a
   * live lease, so "revoke" is always safe to press.
   */
  async revoke(identity: Identity): Promise<RevokeResult> {
    const status = await this.gate.status(identity);
    if (!status.analyst) throw new AppError('not_admitted', 'You have no warehouse role to revoke.');
    return this.endAccess(status.analyst, identity.username, 'revoked by analyst');
  }

  /**
   * Someone who is no longer an FDWG member (seen at sign-in) keeps nothing: a live lease is
   * revoked and its sessions ended, live PII grants end (reason left_group) and pending requests
   * are withdrawn. With nothing live there is nothing to do and nothing logged.
   */
  async revokeIfNoLongerMember(identity: Identity): Promise<RevokeResult | null> {
    const known = await dal.analystNamed(this.db, identity.username);
    if (!known) return null;
    const hasLease = await dal.hasUnrevokedLease(this.db, known.id);
    // PII first: it ends the sessions too, and it must not wait on the lease's outcome.
    const pii = this.piiAccess ? await this.piiAccess.endForLeaver(known) : { grants: 0, requests: 0 };
    const leases = hasLease ? await this.endAccess(known, 'system:gate', 'no longer an FDWG member') : null;
    if (!leases && pii.grants === 0 && pii.requests === 0) return null;
    return { sessionsEnded: leases?.sessionsEnded ?? 0, leasesRevoked: leases?.leasesRevoked ?? 0, piiGrantsEnded: pii.grants };
  }

  private async endAccess(analyst: AnalystRecord, actor: string, reason: string): Promise<RevokeResult> {
    // NOLOGIN and the sessions first; the record follows (a crash in between leaves a lease that
    // the sweeper closes, never an open role without a record).
    // Never provisioned: nothing to end in the warehouse.
    const sessionsEnded = await this.provisioner.revokeIfExists(analyst.roleName);
    const revokedAt = this.now();
    const leasesRevoked = await this.db.transaction(async (tx) => {
      const ids = await dal.revokeLeasesOf(tx, analyst.id, revokedAt, reason);
      await appendAudit(tx, {
        action: 'credential.revoked',
        actor,
        subject: analyst.username,
        details: { role: analyst.roleName, credentialIds: ids, sessionsEnded, reason },
      });
      return ids.length;
    });
    return { sessionsEnded, leasesRevoked };
  }
}
