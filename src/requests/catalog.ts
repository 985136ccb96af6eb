// What an analyst may ask for: the policy's PII datasets and the rules a request must meet before
// anyone is asked to review it. Kept pure (no database) so pages and the service share it.
import { AppError } from '../errors.js';
import type { PiiDataset, Policy } from '../policy/schema.js';

export interface RequestDraft {
  datasets: string[];
  purpose: string;
  durationSeconds: number;
}

export interface CheckedRequest {
  datasets: PiiDataset[];
  purpose: string;
  durationSeconds: number;
  /** The strictest dataset decides: the most approvals any of them needs. */
  approvalsRequired: number;
}

export function findDataset(policy: Pick<Policy, 'pii_datasets'>, name: string): PiiDataset | undefined {
  return policy.pii_datasets.find((d) => d.name === name);
}

/** Throws a 400 that names the rule a draft breaks. */
export function checkRequest(policy: Pick<Policy, 'pii_datasets'>, draft: RequestDraft): CheckedRequest {
  const names = [...new Set(draft.datasets)];
  if (names.length === 0) throw new AppError('bad_request', 'Choose at least one dataset.');
  const unknown = names.filter((n) => !findDataset(policy, n));
  if (unknown.length > 0) {
    throw new AppError('bad_request', `Unknown dataset${unknown.length > 1 ? 's' : ''}: ${unknown.map((n) => `"${n.slice(0, 64)}"`).join(', ')}.`, {
      known: policy.pii_datasets.map((d) => d.name),
    });
  }
  const datasets = names.map((n) => findDataset(policy, n)!);
  const purpose = draft.purpose.trim();
  const minPurpose = Math.max(...datasets.map((d) => d.min_purpose_length));
  if (purpose.length < minPurpose) {
    throw new AppError('bad_request', `The purpose must be at least ${minPurpose} characters for ${names.join(', ')} (it has ${purpose.length}).`, {
      minPurposeLength: minPurpose,
    });
  }
  const strictest = datasets.reduce((a, b) => (b.max_duration < a.max_duration ? b : a));
  if (draft.durationSeconds > strictest.max_duration) {
    throw new AppError(
      'bad_request',
      `The duration ${draft.durationSeconds} s is longer than ${strictest.name} allows (${strictest.max_duration} s at most).`,
      { maxDurationSeconds: strictest.max_duration },
    );
  }
  return {
    datasets,
    purpose,
    durationSeconds: draft.durationSeconds,
    approvalsRequired: Math.max(...datasets.map((d) => d.approvals_required)),
  };
}
