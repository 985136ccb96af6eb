// The PII tier's shapes, as the pages and the API see them.

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
