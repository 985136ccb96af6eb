import { z } from 'zod';

/** Requested credential lifetime; above the policy maximum it is cut to the maximum. */
export const ttlSeconds = z.coerce.number().int('a whole number of seconds').min(1, 'at least 1 second').max(31_536_000);

export const credentialRequest = z.object({ ttlSeconds: ttlSeconds.optional() }).strict();
export const agreementRequest = z.object({ version: z.string().min(1).max(100) }).strict();

// PII requests (issue 4). Only the shape is checked here; the policy's rules (known dataset,
// purpose length, longest duration) are checked by the service, which names the broken rule.
const datasetNames = z.array(z.string().min(1, 'a dataset name').max(64)).min(1, 'at least one dataset').max(20);
export const piiRequestCreate = z
  .object({
    datasets: datasetNames,
    purpose: z.string().max(4000, 'at most 4000 characters'),
    durationSeconds: z.coerce.number().int('a whole number of seconds').min(60, 'at least 60 seconds').max(31_536_000),
  })
  .strict();
const comment = z.string().trim().max(2000, 'at most 2000 characters').optional();
export const piiReview = z.object({ decision: z.enum(['approve', 'deny']), comment }).strict();
export const grantRevoke = z.object({ comment }).strict();
/** Actions that take no input (withdraw, relinquish): an empty body or `{}`. */
export const emptyBody = z.object({}).strict();
