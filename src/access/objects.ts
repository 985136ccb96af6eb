// Rules about one object, which only the service holding it can apply (it has the row locked):
// nobody decides their own request, one vote per approver, and a request is granted only to
// someone still admitted. The route's action (./rules.ts) has already been allowed by then. A
// refusal here goes on the access log like the guard's (`access.denied`, ./denials.ts).
import type { Policy } from '../policy/schema.js';
import { standingOf } from './standing.js';

export interface ReviewBlock {
  /** For the access log (`access.denied`, `details.reason`). */
  reason: string;
  /** The answer: a 403 for one's own request, a 409 for a second vote. */
  code: 'forbidden' | 'conflict';
  message: string;
  /** Why the queue shows it as not decidable. */
  whyNot: string;
}

/** Why `reviewer` may not vote on a request of `requester` already reviewed by `reviewers`, or null. */
export function reviewBlock(reviewer: string, request: { id: number; requester: string; reviewers: readonly string[] }): ReviewBlock | null {
  if (request.requester === reviewer) {
    return {
      reason: 'self-approval: nobody decides their own request',
      code: 'forbidden',
      message: 'You cannot decide your own request, even as an approver.',
      whyNot: 'Your own request: another approver decides it.',
    };
  }
  if (request.reviewers.includes(reviewer)) {
    return {
      reason: 'a second vote by the same approver',
      code: 'conflict',
      message: `You have already reviewed request #${request.id}; it needs another approver.`,
      whyNot: 'You have already approved it.',
    };
  }
  return null;
}

/**
 * Group claims are only as fresh as the last sign-in: a request is granted only when its requester
 * was an FDWG member at their latest sign-in (`analysts.last_groups`) and holds the current agreement.
 */
export function requesterStillAdmitted(lastGroups: readonly string[] | null, acceptedCurrentAgreement: boolean, admission: Policy['admission']): boolean {
  return standingOf(lastGroups ?? [], admission).member && acceptedCurrentAgreement;
}
