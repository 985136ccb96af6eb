// The PII tier's rules: an analyst asks for datasets with a purpose and a duration; approvers
// decide (never their own request; N approvals are N people); the final approval grants each
// dataset's group role for the approved window; access ends on expiry, relinquish, early revoke or
// leaving the FDWG. Every change is audited in its own transaction, next to its webhook notice.
import { type SQL, sql } from 'drizzle-orm';
import { type ReviewBlock, reviewBlock, requesterStillAdmitted } from '../access/objects.js';
import { assertAllowed } from '../access/rules.js';
import { pgArray } from '../db/pg-array.js';
import { holdRoleChangeLock } from '../db/role-change-lock.js';
import { appendAudit, appendAuditMany } from '../audit/log.js';
import type { Identity } from '../auth/identity.js';
import type { ControlDb, ControlTx } from '../db/client.js';
import { AppError } from '../errors.js';
import { notify, requestText } from '../notify/outbox.js';
import type { Policy } from '../policy/schema.js';
import type { Provisioner } from '../provisioner/provisioner.js';
import { datasetRole } from '../provisioner/roles.js';
import type { AnalystRecord, GateService } from '../admission/service.js';
import { type RequestDraft, checkRequest } from './catalog.js';
import { endGrants, lockLiveGrants } from './end-grants.js';

export type RequestState = 'pending' | 'approved' | 'denied' | 'withdrawn' | 'expired';
export type Decision = 'approve' | 'deny';

export interface ReviewView {
  reviewer: string;
  decision: Decision;
  comment: string | null;
  at: Date;
}

export interface GrantView {
  id: number;
  requestId: number;
  analyst: string;
  dataset: string;
  startsAt: Date;
  expiresAt: Date;
  endedAt: Date | null;
  endReason: string | null;
  endedBy: string | null;
  live: boolean;
}

export interface RequestView {
  id: number;
  analyst: string;
  datasets: string[];
  purpose: string;
  durationSeconds: number;
  state: RequestState;
  createdAt: Date;
  reviewDeadline: Date;
  approvalsRequired: number;
  approvals: number;
  reviews: ReviewView[];
  decidedAt: Date | null;
  decidedBy: string | null;
  decisionComment: string | null;
  grants: GrantView[];
}

export interface QueueItem extends RequestView {
  /** The approver asking may vote on it (not their own, not voted yet). */
  decidable: boolean;
  whyNot?: string;
  /** The requester's other requests, newest first. */
  history: RequestView[];
}

export interface Approvals {
  pending: QueueItem[];
  liveGrants: GrantView[];
}

export interface DecisionResult {
  request: RequestView;
  final: boolean;
}

const GATE_ACTOR = 'system:gate';

/** Postgres errors surface directly from pg or wrapped by drizzle (in `cause`). */
const pgCode = (err: unknown): string | undefined =>
  (err as { code?: string })?.code ?? (err as { cause?: { code?: string } })?.cause?.code;

/** The `dataset` column of a request-level event: its dataset, or all of them comma-joined. */
export const datasetColumn = (datasets: string[]) => datasets.join(',');

type LockedRequest = {
  id: number;
  analyst_id: number;
  username: string;
  role_name: string;
  datasets: string[];
  purpose: string;
  duration_seconds: number;
  state: RequestState;
  review_deadline: Date;
  approvals_required: number;
};

export class PiiRequestService {
  constructor(
    private readonly db: ControlDb,
    private readonly gate: GateService,
    private readonly provisioner: Provisioner,
    private readonly policy: Pick<Policy, 'pii_datasets' | 'requests' | 'admission' | 'agreement'>,
    private readonly rolePrefix: string,
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
      await tx.execute(sql`SELECT id FROM analysts WHERE id = ${analyst.id} FOR UPDATE`);
      const busy = await tx.execute<{ dataset: string; why: string }>(sql`
        SELECT d AS dataset, 'a pending request (#' || r.id || ')' AS why
          FROM pii_requests r, unnest(r.datasets) d
         WHERE r.analyst_id = ${analyst.id} AND r.state = 'pending' AND d = ANY(${pgArray(names)}::text[])
        UNION ALL
        SELECT g.dataset, 'live access until ' || to_char(g.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'
          FROM pii_grants g
         WHERE g.analyst_id = ${analyst.id} AND g.ended_at IS NULL AND g.dataset = ANY(${pgArray(names)}::text[])`);
      if (busy.rows.length > 0) {
        const r = busy.rows[0]!;
        throw new AppError('conflict', `You already have ${r.why} for ${r.dataset}. Withdraw or relinquish it first.`);
      }
      const inserted = await tx.execute<{ id: number }>(sql`
        INSERT INTO pii_requests (analyst_id, datasets, purpose, duration_seconds, state, created_at, review_deadline, approvals_required)
        VALUES (${analyst.id}, ${pgArray(names)}::text[], ${checked.purpose}, ${checked.durationSeconds}, 'pending',
                ${now.toISOString()}, ${deadline.toISOString()}, ${checked.approvalsRequired})
        RETURNING id`);
      const requestId = Number(inserted.rows[0]!.id);
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
    return (await this.views(sql`r.id = ${id}`))[0]!;
  }

  async mine(identity: Identity): Promise<RequestView[]> {
    assertAllowed('requests.read', { standing: this.gate.standing(identity) });
    const status = await this.gate.status(identity);
    if (!status.analyst) return [];
    return this.views(sql`r.analyst_id = ${status.analyst.id}`, 100);
  }

  /** Live grants of one analyst (the home page's checklist line). */
  async liveGrants(analystId: number): Promise<GrantView[]> {
    return this.grantViews(sql`g.analyst_id = ${analystId} AND g.ended_at IS NULL`);
  }

  async withdraw(identity: Identity, requestId: number): Promise<RequestView> {
    await this.db.transaction(async (tx) => {
      const r = await this.lockOwn(tx, identity, requestId);
      if (r.state !== 'pending') throw new AppError('conflict', `Request #${r.id} is ${r.state}; only a pending request can be withdrawn.`, { state: r.state });
      await this.close(tx, r, 'withdrawn', identity.username, null);
    });
    return (await this.views(sql`r.id = ${requestId}`))[0]!;
  }

  /** Ends the analyst's own live access from an approved request before its window closes. */
  async relinquish(identity: Identity, requestId: number): Promise<RequestView> {
    await this.db.transaction(async (tx) => {
      const r = await this.lockOwn(tx, identity, requestId);
      const grants = await lockLiveGrants(tx, sql`g.request_id = ${r.id}`);
      if (grants.length === 0) throw new AppError('conflict', `Request #${r.id} gives you no live access to relinquish.`, { state: r.state });
      await endGrants(tx, this.provisioner, grants, { reason: 'relinquished', actor: identity.username, now: this.now() });
    });
    return (await this.views(sql`r.id = ${requestId}`))[0]!;
  }

  // --- Approvers and admins -------------------------------------------------------------------

  async approvals(identity: Identity): Promise<Approvals> {
    const standing = this.gate.standing(identity);
    assertAllowed('approvals.read', { standing });
    // Admins see the live grants (they may end them early), only approvers the requests to decide.
    const pending = standing.approver ? await this.views(sql`r.state = 'pending'`, 200, 'asc') : [];
    const analysts = [...new Set(pending.map((p) => p.analyst))];
    const history = analysts.length
      ? await this.views(sql`a.username = ANY(${pgArray(analysts)}::text[]) AND r.state <> 'pending'`, 500)
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
    return { pending: items, liveGrants: await this.grantViews(sql`g.ended_at IS NULL`) };
  }

  async review(identity: Identity, requestId: number, decision: Decision, comment?: string | null): Promise<DecisionResult> {
    assertAllowed('requests.review', { standing: this.gate.standing(identity) });
    const now = this.now();
    type Outcome = { kind: 'done'; final: boolean } | { kind: 'blocked'; block: ReviewBlock } | { kind: 'expired' } | { kind: 'closed'; state: string };
    const outcome = await this.db.transaction(async (tx): Promise<Outcome> => {
      const r = await this.lock(tx, sql`r.id = ${requestId}`);
      if (!r) throw new AppError('not_found', `No request #${requestId}.`);
      // Refused whatever the state: nobody decides their own request, even as an approver.
      const own = reviewBlock(identity.username, { id: r.id, requester: r.username, reviewers: [] });
      if (own) return { kind: 'blocked', block: own };
      if (r.state !== 'pending') return { kind: 'closed', state: r.state };
      if (r.review_deadline.getTime() <= now.getTime()) {
        // The sweeper has not come by yet: the window is over all the same.
        await this.close(tx, r, 'expired', 'system:gate', null);
        return { kind: 'expired' };
      }
      const votes = await tx.execute<{ reviewer: string; decision: Decision }>(sql`
        SELECT reviewer, decision FROM pii_request_reviews WHERE request_id = ${r.id}`);
      const again = reviewBlock(identity.username, { id: r.id, requester: r.username, reviewers: votes.rows.map((v) => v.reviewer) });
      if (again) return { kind: 'blocked', block: again };
      const approvals = new Set(votes.rows.filter((v) => v.decision === 'approve').map((v) => v.reviewer));
      if (decision === 'approve') approvals.add(identity.username);
      const final = decision === 'approve' && approvals.size >= r.approvals_required;
      if (final) await this.requireStillAdmitted(tx, r);
      await tx.execute(sql`
        INSERT INTO pii_request_reviews (request_id, reviewer, decision, comment, at)
        VALUES (${r.id}, ${identity.username}, ${decision}, ${comment ?? null}, ${now.toISOString()})`);
      if (decision === 'deny') {
        await this.close(tx, r, 'denied', identity.username, comment ?? null);
        return { kind: 'done', final: true };
      }
      if (!final) {
        await appendAudit(tx, {
          action: 'request.approved',
          actor: identity.username,
          subject: r.username,
          requestId: r.id,
          dataset: datasetColumn(r.datasets),
          details: { purpose: r.purpose, approvals: approvals.size, required: r.approvals_required, final: false, ...(comment ? { comment } : {}) },
        });
        return { kind: 'done', final: false };
      }
      await this.grant(tx, r, identity.username, comment ?? null, approvals.size, now);
      return { kind: 'done', final: true };
    });
    // A refusal changes nothing, yet it is recorded: in its own transaction, after the lock is gone.
    if (outcome.kind === 'blocked') {
      await this.refuse(identity, requestId, decision, outcome.block.reason);
      throw new AppError(outcome.block.code, outcome.block.message);
    }
    if (outcome.kind === 'expired') throw new AppError('conflict', `Request #${requestId} expired: nobody decided it within the review window.`, { state: 'expired' });
    if (outcome.kind === 'closed') throw new AppError('conflict', `Request #${requestId} is already ${outcome.state}.`, { state: outcome.state });
    if (outcome.kind !== 'done') throw new Error('unreachable');
    return { request: (await this.views(sql`r.id = ${requestId}`))[0]!, final: outcome.final };
  }

  /** Early end of a live grant by an approver or an admin. */
  async revokeGrant(identity: Identity, grantId: number, comment?: string | null): Promise<GrantView> {
    assertAllowed('grants.revoke', { standing: this.gate.standing(identity) });
    await this.db.transaction(async (tx) => {
      const grants = await lockLiveGrants(tx, sql`g.id = ${grantId}`);
      if (grants.length === 0) {
        const exists = await tx.execute(sql`SELECT end_reason FROM pii_grants WHERE id = ${grantId}`);
        if (exists.rows.length === 0) throw new AppError('not_found', `No grant #${grantId}.`);
        throw new AppError('conflict', `Grant #${grantId} has already ended.`);
      }
      await endGrants(tx, this.provisioner, grants, { reason: 'revoked', actor: identity.username, now: this.now(), comment });
    });
    return (await this.grantViews(sql`g.id = ${grantId}`))[0]!;
  }

  /**
   * Someone seen at sign-in as no longer an FDWG member keeps no PII access and no open request.
   * Returns how many grants and requests were ended.
   */
  async endForLeaver(analyst: Pick<AnalystRecord, 'id' | 'username'>): Promise<{ grants: number; requests: number }> {
    return this.db.transaction(async (tx) => {
      const grants = await lockLiveGrants(tx, sql`g.analyst_id = ${analyst.id}`);
      await endGrants(tx, this.provisioner, grants, { reason: 'left_group', actor: GATE_ACTOR, now: this.now() });
      let requests = 0;
      for (;;) {
        const r = await this.lock(tx, sql`r.analyst_id = ${analyst.id} AND r.state = 'pending'`);
        if (!r) break;
        await this.close(tx, r, 'withdrawn', GATE_ACTOR, 'no longer an FDWG member');
        requests++;
      }
      return { grants: grants.length, requests };
    });
  }

  // --- Internals -------------------------------------------------------------------------------

  private async lock(tx: ControlTx, where: SQL): Promise<LockedRequest | undefined> {
    const result = await tx.execute<LockedRequest>(sql`
      SELECT r.id, r.analyst_id, a.username, a.role_name, r.datasets, r.purpose, r.duration_seconds, r.state,
             r.review_deadline, r.approvals_required
        FROM pii_requests r JOIN analysts a ON a.id = r.analyst_id
       WHERE ${where}
       ORDER BY r.id LIMIT 1
       FOR UPDATE OF r`);
    const row = result.rows[0];
    return row && { ...row, id: Number(row.id), review_deadline: new Date(row.review_deadline) };
  }

  /** The caller's own request, locked; someone else's is "not found" (ids are not a directory). */
  private async lockOwn(tx: ControlTx, identity: Identity, requestId: number): Promise<LockedRequest> {
    const r = await this.lock(tx, sql`r.id = ${requestId} AND a.username = ${identity.username}`);
    if (!r) throw new AppError('not_found', `You have no request #${requestId}.`);
    return r;
  }

  /** A pending request ends without access: denied, withdrawn or expired. */
  private async close(tx: ControlTx, r: LockedRequest, state: 'denied' | 'withdrawn' | 'expired', by: string, comment: string | null) {
    const now = this.now();
    await tx.execute(sql`
      UPDATE pii_requests SET state = ${state}, decided_at = ${now.toISOString()}, decided_by = ${by}, decision_comment = ${comment}
       WHERE id = ${r.id}`);
    await notify(tx, {
      event: 'request.decided',
      requestId: r.id,
      analyst: r.username,
      datasets: r.datasets,
      text: requestText({ requestId: r.id, analyst: r.username, datasets: r.datasets }, { event: 'request.decided', decision: state, decidedBy: by, comment }),
      details: { state, decidedBy: by },
    });
    await appendAudit(tx, {
      action: `request.${state}`,
      actor: by,
      subject: r.username,
      requestId: r.id,
      dataset: datasetColumn(r.datasets),
      details: { purpose: r.purpose, ...(comment ? { comment } : {}), ...(state === 'expired' ? { reviewDeadline: r.review_deadline.toISOString() } : {}) },
    });
  }

  /**
   * Group claims are only as fresh as the last sign-in: before granting, the requester must have
   * been an FDWG member at their latest sign-in (the groups kept on their analysts row) and still
   * hold the current agreement (src/access/objects.ts).
   */
  private async requireStillAdmitted(tx: ControlTx, r: LockedRequest): Promise<void> {
    const result = await tx.execute<{ groups: unknown; accepted: boolean }>(sql`
      SELECT a.last_groups AS groups,
             EXISTS (SELECT 1 FROM agreement_acceptances WHERE analyst_id = a.id AND version = ${this.policy.agreement.version}) AS accepted
        FROM analysts a WHERE a.id = ${r.analyst_id}`);
    const row = result.rows[0];
    const groups = Array.isArray(row?.groups) ? (row.groups as string[]) : null;
    if (!requesterStillAdmitted(groups, Boolean(row?.accepted), this.policy.admission)) {
      throw new AppError('conflict', `${r.username} is no longer admitted (FDWG membership at the last sign-in, or the current agreement): request #${r.id} cannot be granted.`);
    }
  }

  private async grant(tx: ControlTx, r: LockedRequest, approver: string, comment: string | null, approvals: number, now: Date) {
    const expiresAt = new Date(now.getTime() + r.duration_seconds * 1000);
    const groupRoles = r.datasets.map((d) => datasetRole(this.rolePrefix, d));
    await tx.execute(sql`
      UPDATE pii_requests SET state = 'approved', decided_at = ${now.toISOString()}, decided_by = ${approver}, decision_comment = ${comment}
       WHERE id = ${r.id}`);
    let grantIds: number[];
    try {
      const inserted = await tx.execute<{ id: number; dataset: string }>(sql`
        INSERT INTO pii_grants (request_id, analyst_id, role_name, dataset, group_role, starts_at, expires_at)
        SELECT ${r.id}, ${r.analyst_id}, ${r.role_name}, d.dataset, d.group_role, ${now.toISOString()}, ${expiresAt.toISOString()}
          FROM unnest(${pgArray(r.datasets)}::text[], ${pgArray(groupRoles)}::text[]) AS d(dataset, group_role)
        RETURNING id, dataset`);
      grantIds = r.datasets.map((d) => Number(inserted.rows.find((x) => x.dataset === d)!.id));
    } catch (err) {
      if (pgCode(err) === '23505') throw new AppError('conflict', `${r.username} already has live access to one of ${r.datasets.join(', ')}.`);
      throw err;
    }
    // The warehouse GRANT runs beside the control writes and is awaited before COMMIT (as in
    // CredentialService.issue): if it fails nothing is granted on paper; if COMMIT fails after it,
    // a membership without a live grant is left for the reconciler to revoke.
    await holdRoleChangeLock(tx);
    const warehouse = (async () => {
      await this.provisioner.ensureAnalystRole(r.role_name);
      await this.provisioner.grantDatasets(r.role_name, groupRoles);
    })();
    warehouse.catch(() => {});
    await notify(tx, {
      event: 'request.decided',
      requestId: r.id,
      analyst: r.username,
      datasets: r.datasets,
      text: requestText({ requestId: r.id, analyst: r.username, datasets: r.datasets }, { event: 'request.decided', decision: 'approved', decidedBy: approver, comment }),
      details: { state: 'approved', decidedBy: approver, expiresAt: expiresAt.toISOString() },
    });
    // The decision and one grant event per dataset, in one round trip.
    await appendAuditMany(tx, [
      {
        action: 'request.approved',
        actor: approver,
        subject: r.username,
        requestId: r.id,
        dataset: datasetColumn(r.datasets),
        details: { purpose: r.purpose, approvals, required: r.approvals_required, final: true, ...(comment ? { comment } : {}) },
      },
      ...r.datasets.map((dataset, i) => ({
        action: 'pii.granted' as const,
        actor: approver,
        subject: r.username,
        requestId: r.id,
        dataset,
        details: { grantId: grantIds[i], role: r.role_name, groupRole: groupRoles[i], startsAt: now.toISOString(), expiresAt: expiresAt.toISOString(), purpose: r.purpose },
      })),
    ]);
    await warehouse;
  }

  /** A refused decision is recorded even though nothing changes: its own transaction. */
  private async refuse(identity: Identity, requestId: number, decision: Decision, reason: string) {
    await this.db.transaction(async (tx) => {
      const r = await tx.execute<{ username: string; datasets: string[]; purpose: string }>(sql`
        SELECT a.username, r.datasets, r.purpose FROM pii_requests r JOIN analysts a ON a.id = r.analyst_id WHERE r.id = ${requestId}`);
      const row = r.rows[0]!;
      await appendAudit(tx, {
        action: 'request.refused',
        actor: identity.username,
        subject: row.username,
        requestId,
        dataset: datasetColumn(row.datasets),
        details: { reason, decision, purpose: row.purpose },
      });
    });
  }

  private async views(where: SQL, limit = 100, order: 'asc' | 'desc' = 'desc'): Promise<RequestView[]> {
    const result = await this.db.execute<Record<string, any>>(sql`
      SELECT r.*, a.username,
             COALESCE((SELECT json_agg(json_build_object('reviewer', v.reviewer, 'decision', v.decision, 'comment', v.comment, 'at', v.at) ORDER BY v.at)
                         FROM pii_request_reviews v WHERE v.request_id = r.id), '[]') AS reviews
        FROM pii_requests r JOIN analysts a ON a.id = r.analyst_id
       WHERE ${where}
       ORDER BY r.id ${order === 'asc' ? sql`ASC` : sql`DESC`}
       LIMIT ${limit}`);
    const ids = result.rows.map((r) => Number(r.id));
    const grants = ids.length ? await this.grantViews(sql`g.request_id = ANY(${pgArray(ids)}::int[])`) : [];
    return result.rows.map((r) => {
      const reviews = (r.reviews as any[]).map((v) => ({ reviewer: v.reviewer, decision: v.decision, comment: v.comment, at: new Date(v.at) }));
      return {
        id: Number(r.id),
        analyst: r.username,
        datasets: r.datasets,
        purpose: r.purpose,
        durationSeconds: Number(r.duration_seconds),
        state: r.state,
        createdAt: new Date(r.created_at),
        reviewDeadline: new Date(r.review_deadline),
        approvalsRequired: Number(r.approvals_required),
        approvals: new Set(reviews.filter((v) => v.decision === 'approve').map((v) => v.reviewer)).size,
        reviews,
        decidedAt: r.decided_at ? new Date(r.decided_at) : null,
        decidedBy: r.decided_by,
        decisionComment: r.decision_comment,
        grants: grants.filter((g) => g.requestId === Number(r.id)),
      };
    });
  }

  private async grantViews(where: SQL): Promise<GrantView[]> {
    const result = await this.db.execute<Record<string, any>>(sql`
      SELECT g.*, a.username FROM pii_grants g JOIN analysts a ON a.id = g.analyst_id
       WHERE ${where} ORDER BY g.expires_at, g.id LIMIT 1000`);
    return result.rows.map((g) => ({
      id: Number(g.id),
      requestId: Number(g.request_id),
      analyst: g.username,
      dataset: g.dataset,
      startsAt: new Date(g.starts_at),
      expiresAt: new Date(g.expires_at),
      endedAt: g.ended_at ? new Date(g.ended_at) : null,
      endReason: g.end_reason,
      endedBy: g.ended_by,
      live: !g.ended_at,
    }));
  }
}

/** A text[] literal for a bind parameter (names here are policy-validated, but quote anyway). */
