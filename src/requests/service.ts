// The PII tier's rules: an analyst asks for datasets with a purpose and a duration; approvers
// decide (never their own request; N approvals are N people); the final approval grants each
// dataset's group role for the approved window; access ends on expiry, relinquish, early revoke or
// leaving the FDWG. Every change is audited in its own transaction, next to its webhook notice.
import { type DenialRoute, DenialLog } from '../access/denials.js';
import { type ReviewBlock, reviewBlock, requesterStillAdmitted } from '../access/objects.js';
import { assertAllowed } from '../access/rules.js';
import { appendAudit, appendAuditMany } from '../audit/log.js';
import type { Identity } from '../auth/identity.js';
import type { ControlDb, ControlTx } from '../db/client.js';
import { inPipelinedTransaction } from '../db/pipelined-tx.js';
import { takeRoleChangeLockShared } from '../db/role-change-lock.js';
import { AppError } from '../errors.js';
import { notify, requestText } from '../notify/outbox.js';
import type { Policy } from '../policy/schema.js';
import type { Provisioner } from '../provisioner/provisioner.js';
import { datasetRole } from '../provisioner/roles.js';
import type { AnalystRecord, GateService } from '../admission/service.js';
import { type RequestDraft, checkRequest } from './catalog.js';
import * as dal from './dal.js';
import type { LockedRequest } from './dal.js';
import { endGrants, lockLiveGrants } from './end-grants.js';
import { datasetColumn, endRequests } from './end-requests.js';
import type { Approvals, Decision, DecisionResult, GrantView, QueueItem, RequestView } from './types.js';

export type { Approvals, Decision, DecisionResult, GrantView, QueueItem, RequestState, RequestView, ReviewView } from './types.js';
export { datasetColumn } from './end-requests.js';

const GATE_ACTOR = 'system:gate';

/** Postgres errors surface directly from pg or wrapped by drizzle (in `cause`). */
const pgCode = (err: unknown): string | undefined =>
  (err as { code?: string })?.code ?? (err as { cause?: { code?: string } })?.cause?.code;

/** Thrown inside a review's transaction so that it rolls back; answered once the lock is gone. */
class ReviewRefused extends Error {
  constructor(readonly block: ReviewBlock) {
    super(block.reason);
  }
}

export class PiiRequestService {
  constructor(
    private readonly db: ControlDb,
    private readonly gate: GateService,
    private readonly provisioner: Provisioner,
    private readonly policy: Pick<Policy, 'pii_datasets' | 'requests' | 'admission' | 'agreement'>,
    private readonly rolePrefix: string,
    /** Where refused reviews go on the record (the app's one DenialLog, shared with the guard). */
    private readonly denials: DenialLog = new DenialLog(db),
    private readonly now: () => Date = () => new Date(),
  ) {}

  // --- Analyst ---------------------------------------------------------------------------------
  // Who may take each action is the rule table's (src/access/rules.ts), checked by the routes'
  // guards; the methods below that reveal or change something apply their action's rule again.

  async create(identity: Identity, draft: RequestDraft): Promise<RequestView> {
    const analyst = await this.gate.requireAdmitted(identity, 'requests.create');
    const checked = checkRequest(this.policy, draft);
    const names = checked.datasets.map((d) => d.name);
    const now = this.now();
    const deadline = new Date(now.getTime() + this.policy.requests.review_window * 1000);
    const id = await this.db.transaction(async (tx) => {
      // One request at a time per analyst passes the duplicate check below.
      await dal.lockAnalyst(tx, analyst.id);
      const busy = await dal.busyDatasets(tx, analyst.id, names);
      if (busy.length > 0) {
        const r = busy[0]!;
        throw new AppError('conflict', `You already have ${r.why} for ${r.dataset}. Withdraw or relinquish it first.`);
      }
      const requestId = await dal.insertRequest(tx, {
        analystId: analyst.id,
        datasets: names,
        purpose: checked.purpose,
        durationSeconds: checked.durationSeconds,
        createdAt: now,
        reviewDeadline: deadline,
        approvalsRequired: checked.approvalsRequired,
      });
      await notify(tx, {
        event: 'request.created',
        requestId,
        analyst: analyst.username,
        datasets: names,
        text: requestText(
          { requestId, analyst: analyst.username, datasets: names },
          { event: 'request.created', purpose: checked.purpose, durationSeconds: checked.durationSeconds },
        ),
        details: { durationSeconds: checked.durationSeconds, approvalsRequired: checked.approvalsRequired, reviewDeadline: deadline.toISOString() },
      });
      await appendAudit(tx, {
        action: 'request.created',
        actor: analyst.username,
        subject: analyst.username,
        requestId,
        dataset: datasetColumn(names),
        details: {
          datasets: names,
          purpose: checked.purpose,
          durationSeconds: checked.durationSeconds,
          approvalsRequired: checked.approvalsRequired,
          reviewDeadline: deadline.toISOString(),
        },
      });
      return requestId;
    });
    return (await this.views({ id }))[0]!;
  }

  async mine(identity: Identity): Promise<RequestView[]> {
    assertAllowed('requests.read', { standing: this.gate.standing(identity) });
    const status = await this.gate.status(identity);
    if (!status.analyst) return [];
    return this.views({ analystId: status.analyst.id }, 100);
  }

  /** Live grants of one analyst (the home page's checklist line). */
  async liveGrants(analystId: number): Promise<GrantView[]> {
    return this.grantViews({ live: true, analystId });
  }

  async withdraw(identity: Identity, requestId: number): Promise<RequestView> {
    await this.db.transaction(async (tx) => {
      const r = await this.lockOwn(tx, identity, requestId);
      if (r.state !== 'pending') throw new AppError('conflict', `Request #${r.id} is ${r.state}; only a pending request can be withdrawn.`, { state: r.state });
      await this.close(tx, r, 'withdrawn', identity.username, null);
    });
    return (await this.views({ id: requestId }))[0]!;
  }

  /** Ends the analyst's own live access from an approved request before its window closes. */
  async relinquish(identity: Identity, requestId: number): Promise<RequestView> {
    await this.db.transaction(async (tx) => {
      const r = await this.lockOwn(tx, identity, requestId);
      const grants = await lockLiveGrants(tx, { requestId: r.id });
      if (grants.length === 0) throw new AppError('conflict', `Request #${r.id} gives you no live access to relinquish.`, { state: r.state });
      await endGrants(tx, this.provisioner, grants, { reason: 'relinquished', actor: identity.username, now: this.now() });
    });
    return (await this.views({ id: requestId }))[0]!;
  }

  // --- Approvers and admins -------------------------------------------------------------------

  async approvals(identity: Identity): Promise<Approvals> {
    const standing = this.gate.standing(identity);
    assertAllowed('approvals.read', { standing });
    // Admins see the live grants (they may end them early), only approvers the requests to decide.
    const pending = standing.approver ? await this.views({ pending: true }, 200, 'asc') : [];
    const analysts = [...new Set(pending.map((p) => p.analyst))];
    const history = analysts.length
      ? await this.views({ decidedOf: analysts }, 500)
      : [];
    const items = pending.map<QueueItem>((p) => {
      const block = reviewBlock(identity.username, { id: p.id, requester: p.analyst, reviewers: p.reviews.map((v) => v.reviewer) });
      return {
        ...p,
        decidable: !block,
        whyNot: block?.whyNot,
        history: history.filter((h) => h.analyst === p.analyst).slice(0, 10),
      };
    });
    return { pending: items, liveGrants: await this.grantViews({ live: true }) };
  }

  /** `via`: the route the decision came in by, for the access log when it is refused. */
  async review(identity: Identity, requestId: number, decision: Decision, comment?: string | null, via?: DenialRoute): Promise<DecisionResult> {
    assertAllowed('requests.review', { standing: this.gate.standing(identity) });
    try {
      return await this.decide(identity, requestId, decision, comment);
    } catch (err) {
      if (!(err instanceof ReviewRefused)) throw err;
      // A refusal changes nothing, yet it is recorded: in its own transaction, after the review's
      // rolled back and its lock is gone; coalesced like the guard's refusals (one event per
      // person, action and minute, the rest counted).
      await this.denials.record({ actor: identity.username, action: 'requests.review', code: err.block.code, reason: err.block.reason, requestId, ...via });
      throw new AppError(err.block.code, err.block.message);
    }
  }

  /** The decision in one transaction; an object rule's refusal is thrown as ReviewRefused. */
  private async decide(identity: Identity, requestId: number, decision: Decision, comment: string | null | undefined): Promise<DecisionResult> {
    const now = this.now();
    type Outcome = { kind: 'done'; final: boolean; view?: RequestView } | { kind: 'expired' } | { kind: 'closed'; state: string };
    // Pipelined (src/db/pipelined-tx.ts): BEGIN with the role-change lock (an approval may be
    // the one that grants), the request's lock and the votes read after it travel in one round
    // trip; the writes in another; the answer's reads right behind COMMIT (a final approval knows
    // its answer without them).
    const answered = await inPipelinedTransaction(this.db, { afterBegin: decision === 'approve' ? takeRoleChangeLockShared : undefined }, async (tx): Promise<Outcome> => {
      const [r, facts] = await Promise.all([
        dal.lockRequest(tx, { id: requestId }),
        dal.reviewFacts(tx, requestId, this.policy.agreement.version),
      ]);
      if (!r) throw new AppError('not_found', `No request #${requestId}.`);
      // Refused whatever the state: nobody decides their own request, even as an approver.
      const own = reviewBlock(identity.username, { id: r.id, requester: r.username, reviewers: [] });
      if (own) throw new ReviewRefused(own);
      if (r.state !== 'pending') return { kind: 'closed', state: r.state };
      if (r.reviewDeadline.getTime() <= now.getTime()) {
        // The sweeper has not come by yet: the window is over all the same.
        await this.close(tx, r, 'expired', 'system:gate', null);
        return { kind: 'expired' };
      }
      // Read after the lock (a statement of its own, so a new snapshot): the votes, and the
      // requester's admission for a final approval.
      const { votes, admission } = facts;
      const again = reviewBlock(identity.username, { id: r.id, requester: r.username, reviewers: votes.map((v) => v.reviewer) });
      if (again) throw new ReviewRefused(again);
      const approvals = new Set(votes.filter((v) => v.decision === 'approve').map((v) => v.reviewer));
      if (decision === 'approve') approvals.add(identity.username);
      const final = decision === 'approve' && approvals.size >= r.approvalsRequired;
      if (final) {
        this.requireStillAdmitted(r, admission);
        return { kind: 'done', final: true, view: await this.grant(tx, r, votes, identity.username, comment ?? null, approvals.size, now) };
      }
      await dal.insertVote(tx, { requestId: r.id, reviewer: identity.username, decision, comment: comment ?? null, at: now });
      if (decision === 'deny') {
        await this.close(tx, r, 'denied', identity.username, comment ?? null);
        return { kind: 'done', final: true };
      }
      // An approval that is not the last one needed.
      await appendAudit(tx, {
        action: 'request.approved',
        actor: identity.username,
        subject: r.username,
        requestId: r.id,
        dataset: datasetColumn(r.datasets),
        details: { purpose: r.purpose, approvals: approvals.size, required: r.approvalsRequired, final: false, ...(comment ? { comment } : {}) },
      });
      return { kind: 'done', final: false };
    }, async (db, o) => ({ outcome: o, view: o.kind === 'done' ? (o.view ?? (await this.views({ id: requestId }, 100, 'desc', db))[0]!) : undefined }));
    const { outcome } = answered;
    if (outcome.kind === 'expired') throw new AppError('conflict', `Request #${requestId} expired: nobody decided it within the review window.`, { state: 'expired' });
    if (outcome.kind === 'closed') throw new AppError('conflict', `Request #${requestId} is already ${outcome.state}.`, { state: outcome.state });
    if (outcome.kind !== 'done' || !answered.view) throw new Error('unreachable');
    return { request: answered.view, final: outcome.final };
  }

  /** Early end of a live grant by an approver or an admin. */
  async revokeGrant(identity: Identity, grantId: number, comment?: string | null): Promise<GrantView> {
    assertAllowed('grants.revoke', { standing: this.gate.standing(identity) });
    await this.db.transaction(async (tx) => {
      const grants = await lockLiveGrants(tx, { id: grantId });
      if (grants.length === 0) {
        if (!(await dal.grantExists(tx, grantId))) throw new AppError('not_found', `No grant #${grantId}.`);
        throw new AppError('conflict', `Grant #${grantId} has already ended.`);
      }
      await endGrants(tx, this.provisioner, grants, { reason: 'revoked', actor: identity.username, now: this.now(), comment });
    });
    return (await this.grantViews({ id: grantId }))[0]!;
  }

  /**
   * Someone seen at sign-in as no longer an FDWG member keeps no PII access and no open request.
   * Returns how many grants and requests were ended.
   */
  async endForLeaver(analyst: Pick<AnalystRecord, 'id' | 'username'>): Promise<{ grants: number; requests: number }> {
    return this.db.transaction(async (tx) => {
      const grants = await lockLiveGrants(tx, { analystId: analyst.id });
      await endGrants(tx, this.provisioner, grants, { reason: 'left_group', actor: GATE_ACTOR, now: this.now() });
      let requests = 0;
      for (;;) {
        const r = await dal.lockRequest(tx, { pendingOf: analyst.id });
        if (!r) break;
        await this.close(tx, r, 'withdrawn', GATE_ACTOR, 'no longer an FDWG member');
        requests++;
      }
      return { grants: grants.length, requests };
    });
  }

  // --- Internals -------------------------------------------------------------------------------

  /** The caller's own request, locked; someone else's is "not found" (ids are not a directory). */
  private async lockOwn(tx: ControlTx, identity: Identity, requestId: number): Promise<LockedRequest> {
    const r = await dal.lockRequest(tx, { id: requestId, username: identity.username });
    if (!r) throw new AppError('not_found', `You have no request #${requestId}.`);
    return r;
  }

  /** A pending request ends without access: denied, withdrawn or expired (src/requests/end-requests.ts). */
  private close(tx: ControlTx, r: LockedRequest, state: 'denied' | 'withdrawn' | 'expired', by: string, comment: string | null) {
    return endRequests(tx, [r], { state, by, comment, now: this.now() });
  }

  /**
   * Group claims are only as fresh as the last sign-in: before granting, the requester must have
   * been an FDWG member at their latest sign-in (the groups kept on their analysts row) and still
   * hold the current agreement (src/access/objects.ts).
   */
  private requireStillAdmitted(r: LockedRequest, row: dal.AdmissionFacts | undefined): void {
    const groups = Array.isArray(row?.groups) ? (row.groups as string[]) : null;
    if (!requesterStillAdmitted(groups, Boolean(row?.accepted), this.policy.admission)) {
      throw new AppError('conflict', `${r.username} is no longer admitted (FDWG membership at the last sign-in, or the current agreement): request #${r.id} cannot be granted.`);
    }
  }

  /**
   * `votes`: the earlier ones, read under the request's lock. Returns the request's view as this
   * transaction leaves it.
   */
  private async grant(
    tx: ControlTx,
    r: LockedRequest,
    votes: dal.ReviewRow[],
    approver: string,
    comment: string | null,
    approvals: number,
    now: Date,
  ): Promise<RequestView> {
    const expiresAt = new Date(now.getTime() + r.durationSeconds * 1000);
    const groupRoles = r.datasets.map((d) => datasetRole(this.rolePrefix, d));
    // The vote, the decision and the grants in one statement, the webhook notice behind it on the
    // same round trip (the role-change lock was taken at BEGIN).
    const written = dal.approveAndGrant(tx, {
        requestId: r.id,
        analystId: r.analystId,
        roleName: r.roleName,
        datasets: r.datasets,
        groupRoles,
        approver,
        comment,
        at: now,
        expiresAt,
      });
    const noticed = notify(tx, {
      event: 'request.decided',
      requestId: r.id,
      analyst: r.username,
      datasets: r.datasets,
      text: requestText({ requestId: r.id, analyst: r.username, datasets: r.datasets }, { event: 'request.decided', decision: 'approved', decidedBy: approver, comment }),
      details: { state: 'approved', decidedBy: approver, expiresAt: expiresAt.toISOString() },
    });
    noticed.catch(() => {});
    let grantIds: number[];
    try {
      grantIds = await written;
    } catch (err) {
      if (pgCode(err) === '23505') throw new AppError('conflict', `${r.username} already has live access to one of ${r.datasets.join(', ')}.`);
      throw err;
    }
    // The warehouse GRANT starts once the grants are written (never for a request that failed to
    // be) and runs beside the audit append; both are awaited before COMMIT (as in
    // CredentialService.issue): if it fails nothing is granted on paper; if COMMIT fails after it,
    // a membership without a live grant is left for the reconciler to revoke.
    const warehouse = (async () => {
      await this.provisioner.ensureAnalystRole(r.roleName);
      await this.provisioner.grantDatasets(r.roleName, groupRoles);
    })();
    warehouse.catch(() => {});
    // The decision and one grant event per dataset, in one round trip.
    const audited = appendAuditMany(tx, [
      {
        action: 'request.approved',
        actor: approver,
        subject: r.username,
        requestId: r.id,
        dataset: datasetColumn(r.datasets),
        details: { purpose: r.purpose, approvals, required: r.approvalsRequired, final: true, ...(comment ? { comment } : {}) },
      },
      ...r.datasets.map((dataset, i) => ({
        action: 'pii.granted' as const,
        actor: approver,
        subject: r.username,
        requestId: r.id,
        dataset,
        details: { grantId: grantIds[i], role: r.roleName, groupRole: groupRoles[i], startsAt: now.toISOString(), expiresAt: expiresAt.toISOString(), purpose: r.purpose },
      })),
    ]);
    await Promise.all([noticed, audited, warehouse]);
    // The answer without reading it back: the request was locked and its votes read under the
    // lock, and the rest is what this transaction wrote (as the view after COMMIT would show it).
    const reviews = [...votes, { reviewer: approver, decision: 'approve' as const, comment, at: now }].sort((a, b) => a.at.getTime() - b.at.getTime());
    const grants = grantIds
      .map((id, i) => ({ id, requestId: r.id, username: r.username, dataset: r.datasets[i]!, startsAt: now, expiresAt, endedAt: null, endReason: null, endedBy: null }))
      .sort((a, b) => a.id - b.id)
      .map(toGrantView);
    return toView({ ...r, state: 'approved', reviews, decidedAt: now, decidedBy: approver, decisionComment: comment }, grants);
  }

  private async views(filter: dal.RequestFilter, limit = 100, order: 'asc' | 'desc' = 'desc', db: ControlDb = this.db): Promise<RequestView[]> {
    // One request by id (the answer to every change): its grants are read beside it, not after.
    const [rows, known] = await Promise.all([
      dal.requestRows(db, filter, limit, order),
      'id' in filter ? this.grantViews({ requestIds: [filter.id] }, db) : undefined,
    ]);
    const ids = rows.map((r) => r.id);
    const grants = known ?? (ids.length ? await this.grantViews({ requestIds: ids }, db) : []);
    return rows.map((r) => toView(r, grants.filter((g) => g.requestId === r.id)));
  }

  private async grantViews(filter: dal.GrantFilter, db: ControlDb = this.db): Promise<GrantView[]> {
    return (await dal.grantRecords(db, filter)).map(toGrantView);
  }
}

function toView(r: dal.RequestRow, grants: GrantView[]): RequestView {
  return {
    id: r.id,
    analyst: r.username,
    datasets: r.datasets,
    purpose: r.purpose,
    durationSeconds: r.durationSeconds,
    state: r.state,
    createdAt: r.createdAt,
    reviewDeadline: r.reviewDeadline,
    approvalsRequired: r.approvalsRequired,
    approvals: new Set(r.reviews.filter((v) => v.decision === 'approve').map((v) => v.reviewer)).size,
    reviews: r.reviews,
    decidedAt: r.decidedAt,
    decidedBy: r.decidedBy,
    decisionComment: r.decisionComment,
    grants,
  };
}

function toGrantView(g: dal.GrantRecord): GrantView {
  return {
    id: g.id,
    requestId: g.requestId,
    analyst: g.username,
    dataset: g.dataset,
    startsAt: g.startsAt,
    expiresAt: g.expiresAt,
    endedAt: g.endedAt,
    endReason: g.endReason,
    endedBy: g.endedBy,
    live: !g.endedAt,
  };
}

