// Data access of the PII tier: every statement on pii_requests, pii_request_reviews and pii_grants,
// with typed rows. drizzle's builder where it can express the query; typed `sql` templates where it
// cannot (unnest, array overlap, json_agg, FOR UPDATE OF a join, UPDATE ... FROM ... RETURNING).
// The rules (who, when, what is audited and announced) stay in service.ts, end-grants.ts and
// grant-sweeper.ts.
import { type SQL, and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { ControlTx } from '../db/client.js';
import { pgArray } from '../db/pg-array.js';
import { analysts, piiGrants, piiRequestReviews, piiRequests } from '../db/schema.js';
import type { Decision, RequestState, RequestView, ReviewView } from './types.js';

/** A request locked for a decision, with its analyst. */
export interface LockedRequest {
  id: number;
  analystId: number;
  username: string;
  roleName: string;
  datasets: string[];
  purpose: string;
  durationSeconds: number;
  state: RequestState;
  createdAt: Date;
  reviewDeadline: Date;
  approvalsRequired: number;
}

type RawLockedRequest = {
  id: number | string;
  analyst_id: number | string;
  username: string;
  role_name: string;
  datasets: string[];
  purpose: string;
  duration_seconds: number | string;
  state: RequestState;
  created_at: Date | string;
  review_deadline: Date | string;
  approvals_required: number | string;
};

const toLocked = (r: RawLockedRequest): LockedRequest => ({
  id: Number(r.id),
  analystId: Number(r.analyst_id),
  username: r.username,
  roleName: r.role_name,
  datasets: r.datasets,
  purpose: r.purpose,
  durationSeconds: Number(r.duration_seconds),
  state: r.state,
  createdAt: new Date(r.created_at),
  reviewDeadline: new Date(r.review_deadline),
  approvalsRequired: Number(r.approvals_required),
});

/** Which request to lock: by id (and owner), or the oldest pending one of an analyst. */
export type RequestKey = { id: number; username?: string } | { pendingOf: number };

/** The first request matching `key`, locked (FOR UPDATE OF the request) for the caller's transaction. */
export async function lockRequest(tx: ControlTx, key: RequestKey): Promise<LockedRequest | undefined> {
  const where =
    'pendingOf' in key
      ? sql`r.analyst_id = ${key.pendingOf} AND r.state = 'pending'`
      : key.username !== undefined
        ? sql`r.id = ${key.id} AND a.username = ${key.username}`
        : sql`r.id = ${key.id}`;
  const result = await tx.execute<RawLockedRequest>(sql`
    SELECT r.id, r.analyst_id, a.username, a.role_name, r.datasets, r.purpose, r.duration_seconds, r.state,
           r.created_at, r.review_deadline, r.approvals_required
      FROM pii_requests r JOIN analysts a ON a.id = r.analyst_id
     WHERE ${where}
     ORDER BY r.id LIMIT 1
     FOR UPDATE OF r`);
  const row = result.rows[0];
  return row && toLocked(row);
}

/** Pending requests past their review deadline, locked; several sweepers share them (SKIP LOCKED). */
export async function lockOverdueRequests(tx: ControlTx, now: Date, limit: number): Promise<LockedRequest[]> {
  const result = await tx.execute<RawLockedRequest>(sql`
    SELECT r.id, r.analyst_id, a.username, a.role_name, r.datasets, r.purpose, r.duration_seconds, r.state,
           r.created_at, r.review_deadline, r.approvals_required
      FROM pii_requests r JOIN analysts a ON a.id = r.analyst_id
     WHERE r.state = 'pending' AND r.review_deadline <= ${now.toISOString()}
     ORDER BY r.review_deadline LIMIT ${limit}
     FOR UPDATE OF r SKIP LOCKED`);
  return result.rows.map(toLocked);
}

/** Serializes one analyst's new requests (the duplicate check runs under it). */
export async function lockAnalyst(tx: ControlTx, analystId: number): Promise<void> {
  await tx.select({ id: analysts.id }).from(analysts).where(eq(analysts.id, analystId)).for('update');
}

/** Of `datasets`, those the analyst already has pending or live, each with why. */
export async function busyDatasets(tx: ControlTx, analystId: number, datasets: string[]): Promise<{ dataset: string; why: string }[]> {
  const result = await tx.execute<{ dataset: string; why: string }>(sql`
    SELECT d AS dataset, 'a pending request (#' || r.id || ')' AS why
      FROM pii_requests r, unnest(r.datasets) d
     WHERE r.analyst_id = ${analystId} AND r.state = 'pending' AND d = ANY(${pgArray(datasets)}::text[])
    UNION ALL
    SELECT g.dataset, 'live access until ' || to_char(g.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'
      FROM pii_grants g
     WHERE g.analyst_id = ${analystId} AND g.ended_at IS NULL AND g.dataset = ANY(${pgArray(datasets)}::text[])`);
  return result.rows;
}

export interface NewRequest {
  analystId: number;
  datasets: string[];
  purpose: string;
  durationSeconds: number;
  createdAt: Date;
  reviewDeadline: Date;
  approvalsRequired: number;
}

/** A new pending request; its id. */
export async function insertRequest(tx: ControlTx, r: NewRequest): Promise<number> {
  const [row] = await tx
    .insert(piiRequests)
    .values({ ...r, state: 'pending' })
    .returning({ id: piiRequests.id });
  return row!.id;
}

/** The final state of requests: approved, denied, withdrawn or expired. */
export async function setDecision(
  tx: ControlTx,
  ids: number[],
  d: { state: Exclude<RequestState, 'pending'>; at: Date; by: string; comment: string | null },
): Promise<void> {
  if (ids.length === 0) return;
  await tx
    .update(piiRequests)
    .set({ state: d.state, decidedAt: d.at, decidedBy: d.by, decisionComment: d.comment })
    .where(inArray(piiRequests.id, ids));
}

/** The groups kept at an analyst's latest sign-in, and whether they accepted an agreement version. */
export interface AdmissionFacts {
  groups: unknown;
  accepted: boolean;
}

/**
 * What a vote is decided on, in one statement: the request's votes so far and its requester's
 * admission facts. Issued after the request's lock, as a statement of its own (so a vote that
 * committed while we waited for the lock is seen); it needs nothing from the lock's answer, so the
 * two can share a round trip (src/requests/pipelined-tx.ts).
 */
export async function reviewFacts(
  tx: ControlTx,
  requestId: number,
  agreementVersion: string,
): Promise<{ votes: ReviewRow[]; admission: AdmissionFacts | undefined }> {
  const result = await tx.execute<{ votes: RawReview[]; groups: unknown; accepted: boolean | null; found: boolean }>(sql`
    SELECT COALESCE((SELECT json_agg(json_build_object('reviewer', v.reviewer, 'decision', v.decision, 'comment', v.comment, 'at', v.at) ORDER BY v.at)
                       FROM pii_request_reviews v WHERE v.request_id = ${requestId}), '[]') AS votes,
           a.last_groups AS groups,
           EXISTS (SELECT 1 FROM agreement_acceptances WHERE analyst_id = a.id AND version = ${agreementVersion}) AS accepted,
           a.id IS NOT NULL AS found
      FROM (SELECT 1) one LEFT JOIN pii_requests r ON r.id = ${requestId} LEFT JOIN analysts a ON a.id = r.analyst_id`);
  const row = result.rows[0]!;
  return { votes: row.votes.map(toReview), admission: row.found ? { groups: row.groups, accepted: Boolean(row.accepted) } : undefined };
}

export async function insertVote(tx: ControlTx, v: { requestId: number; reviewer: string; decision: Decision; comment: string | null; at: Date }): Promise<void> {
  await tx.insert(piiRequestReviews).values(v);
}

/**
 * The final approval's writes in one statement: the vote, the request approved, and one grant per
 * dataset (ids in the order of `datasets`). A live grant of the same analyst and dataset fails it
 * with 23505 (pii_grants_one_live), as insertGrants does.
 */
export async function approveAndGrant(
  tx: ControlTx,
  a: { requestId: number; analystId: number; roleName: string; datasets: string[]; groupRoles: string[]; approver: string; comment: string | null; at: Date; expiresAt: Date },
): Promise<number[]> {
  const at = a.at.toISOString();
  const result = await tx.execute<{ id: number | string; dataset: string }>(sql`
    WITH vote AS (
           INSERT INTO pii_request_reviews (request_id, reviewer, decision, comment, at)
           VALUES (${a.requestId}, ${a.approver}, 'approve', ${a.comment}, ${at}::timestamptz)),
         decided AS (
           UPDATE pii_requests SET state = 'approved', decided_at = ${at}::timestamptz, decided_by = ${a.approver}, decision_comment = ${a.comment}
            WHERE id = ${a.requestId})
    INSERT INTO pii_grants (request_id, analyst_id, role_name, dataset, group_role, starts_at, expires_at)
    SELECT ${a.requestId}, ${a.analystId}, ${a.roleName}, d.dataset, d.group_role, ${at}::timestamptz, ${a.expiresAt.toISOString()}::timestamptz
      FROM unnest(${pgArray(a.datasets)}::text[], ${pgArray(a.groupRoles)}::text[]) AS d(dataset, group_role)
    RETURNING id, dataset`);
  return a.datasets.map((d) => Number(result.rows.find((x) => x.dataset === d)!.id));
}

export async function grantExists(tx: ControlTx, grantId: number): Promise<boolean> {
  const rows = await tx.select({ id: piiGrants.id }).from(piiGrants).where(eq(piiGrants.id, grantId));
  return rows.length > 0;
}

// --- Grants ending ---------------------------------------------------------------------------

/** A live grant as the code that ends it needs it. */
export interface GrantRow {
  id: number;
  requestId: number;
  analystId: number;
  username: string;
  roleName: string;
  dataset: string;
  groupRole: string;
  startsAt: Date;
  expiresAt: Date;
  purpose: string;
}

type RawGrant = {
  id: number;
  request_id: number;
  analyst_id: number;
  username: string;
  role_name: string;
  dataset: string;
  group_role: string;
  starts_at: Date | string;
  expires_at: Date | string;
  purpose: string;
};

const toGrant = (r: RawGrant): GrantRow => ({
  id: Number(r.id),
  requestId: Number(r.request_id),
  analystId: Number(r.analyst_id),
  username: r.username,
  roleName: r.role_name,
  dataset: r.dataset,
  groupRole: r.group_role,
  startsAt: new Date(r.starts_at),
  expiresAt: new Date(r.expires_at),
  purpose: r.purpose,
});

/** Which live grants to lock: of a request, one by id, an analyst's, or those due by a moment. */
export type LiveGrantKey = { requestId: number } | { id: number } | { analystId: number } | { dueBy: Date };

/**
 * Live grants matching `key`, locked for the caller's transaction. `skipLocked` lets several
 * sweepers share the work.
 */
export async function lockLiveGrants(tx: ControlTx, key: LiveGrantKey, opts: { limit?: number; skipLocked?: boolean } = {}): Promise<GrantRow[]> {
  const where =
    'requestId' in key
      ? sql`g.request_id = ${key.requestId}`
      : 'id' in key
        ? sql`g.id = ${key.id}`
        : 'analystId' in key
          ? sql`g.analyst_id = ${key.analystId}`
          : sql`g.expires_at <= ${key.dueBy.toISOString()}`;
  const result = await tx.execute<RawGrant>(sql`
    SELECT g.id, g.request_id, g.analyst_id, a.username, g.role_name, g.dataset, g.group_role, g.starts_at, g.expires_at, r.purpose
      FROM pii_grants g
      JOIN analysts a ON a.id = g.analyst_id
      JOIN pii_requests r ON r.id = g.request_id
     WHERE g.ended_at IS NULL AND (${where})
     ORDER BY g.expires_at, g.id
     ${opts.limit ? sql`LIMIT ${opts.limit}` : sql``}
     FOR UPDATE OF g${opts.skipLocked ? sql` SKIP LOCKED` : sql``}`);
  return result.rows.map(toGrant);
}

export async function markGrantsEnded(tx: ControlTx, ids: number[], e: { at: Date; reason: string; by: string }): Promise<void> {
  if (ids.length === 0) return;
  await tx.update(piiGrants).set({ endedAt: e.at, endReason: e.reason, endedBy: e.by }).where(inArray(piiGrants.id, ids));
}

/**
 * Live grants ending within `soonSeconds` and not warned about yet, marked as warned (claimed with
 * SKIP LOCKED). Grants no longer than that window are left out.
 */
export async function claimGrantsToWarn(
  tx: ControlTx,
  now: Date,
  soonSeconds: number,
  limit: number,
): Promise<{ requestId: number; username: string; dataset: string; expiresAt: Date }[]> {
  const due = await tx.execute<{ request_id: number | string; username: string; dataset: string; expires_at: Date | string }>(sql`
    UPDATE pii_grants g SET warned_at = ${now.toISOString()}
      FROM analysts a
     WHERE a.id = g.analyst_id AND g.id IN (
           SELECT id FROM pii_grants
            WHERE ended_at IS NULL AND warned_at IS NULL
              AND expires_at > ${now.toISOString()}
              AND expires_at <= ${now.toISOString()}::timestamptz + make_interval(secs => ${soonSeconds})
              AND expires_at - starts_at > make_interval(secs => ${soonSeconds})
            ORDER BY expires_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    RETURNING g.request_id, a.username, g.dataset, g.expires_at`);
  return due.rows.map((r) => ({ requestId: Number(r.request_id), username: r.username, dataset: r.dataset, expiresAt: new Date(r.expires_at) }));
}

// --- Reading requests and grants (the views) --------------------------------------------------

/** A review as stored: the same fields the pages show. */
export type ReviewRow = ReviewView;

/** A review as json_build_object gives it. */
type RawReview = { reviewer: string; decision: Decision; comment: string | null; at: string };
const toReview = (v: RawReview): ReviewRow => ({ reviewer: v.reviewer, decision: v.decision, comment: v.comment, at: new Date(v.at) });

/** A request as stored; the view adds the approval count and grants and names the analyst. */
export type RequestRow = Omit<RequestView, 'analyst' | 'approvals' | 'reviews' | 'grants'> & { username: string; reviews: ReviewRow[] };

/** Which requests to read. */
export type RequestFilter = { id: number } | { analystId: number } | { pending: true } | { decidedOf: string[] };

export async function requestRows(tx: ControlTx, filter: RequestFilter, limit: number, order: 'asc' | 'desc'): Promise<RequestRow[]> {
  const where =
    'id' in filter
      ? sql`r.id = ${filter.id}`
      : 'analystId' in filter
        ? sql`r.analyst_id = ${filter.analystId}`
        : 'pending' in filter
          ? sql`r.state = 'pending'`
          : sql`a.username = ANY(${pgArray(filter.decidedOf)}::text[]) AND r.state <> 'pending'`;
  type Raw = {
    id: number | string;
    username: string;
    datasets: string[];
    purpose: string;
    duration_seconds: number | string;
    state: RequestState;
    created_at: Date | string;
    review_deadline: Date | string;
    approvals_required: number | string;
    decided_at: Date | string | null;
    decided_by: string | null;
    decision_comment: string | null;
    reviews: RawReview[];
  };
  const result = await tx.execute<Raw>(sql`
    SELECT r.*, a.username,
           COALESCE((SELECT json_agg(json_build_object('reviewer', v.reviewer, 'decision', v.decision, 'comment', v.comment, 'at', v.at) ORDER BY v.at)
                       FROM pii_request_reviews v WHERE v.request_id = r.id), '[]') AS reviews
      FROM pii_requests r JOIN analysts a ON a.id = r.analyst_id
     WHERE ${where}
     ORDER BY r.id ${order === 'asc' ? sql`ASC` : sql`DESC`}
     LIMIT ${limit}`);
  return result.rows.map((r) => ({
    id: Number(r.id),
    username: r.username,
    datasets: r.datasets,
    purpose: r.purpose,
    durationSeconds: Number(r.duration_seconds),
    state: r.state,
    createdAt: new Date(r.created_at),
    reviewDeadline: new Date(r.review_deadline),
    approvalsRequired: Number(r.approvals_required),
    decidedAt: r.decided_at ? new Date(r.decided_at) : null,
    decidedBy: r.decided_by,
    decisionComment: r.decision_comment,
    reviews: r.reviews.map(toReview),
  }));
}

export interface GrantRecord {
  id: number;
  requestId: number;
  username: string;
  dataset: string;
  startsAt: Date;
  expiresAt: Date;
  endedAt: Date | null;
  endReason: string | null;
  endedBy: string | null;
}

/** Which grants to read. */
export type GrantFilter = { id: number } | { live: true; analystId?: number } | { requestIds: number[] };

export async function grantRecords(tx: ControlTx, filter: GrantFilter): Promise<GrantRecord[]> {
  const where: SQL | undefined =
    'id' in filter
      ? eq(piiGrants.id, filter.id)
      : 'requestIds' in filter
        ? inArray(piiGrants.requestId, filter.requestIds)
        : and(filter.analystId !== undefined ? eq(piiGrants.analystId, filter.analystId) : undefined, isNull(piiGrants.endedAt));
  return tx
    .select({
      id: piiGrants.id,
      requestId: piiGrants.requestId,
      username: analysts.username,
      dataset: piiGrants.dataset,
      startsAt: piiGrants.startsAt,
      expiresAt: piiGrants.expiresAt,
      endedAt: piiGrants.endedAt,
      endReason: piiGrants.endReason,
      endedBy: piiGrants.endedBy,
    })
    .from(piiGrants)
    .innerJoin(analysts, eq(analysts.id, piiGrants.analystId))
    .where(where)
    .orderBy(piiGrants.expiresAt, piiGrants.id)
    .limit(1000);
}
