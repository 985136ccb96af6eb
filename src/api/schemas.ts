import { z } from 'zod';

/** Requested credential lifetime; above the policy maximum it is cut to the maximum. */
export const ttlSeconds = z.coerce.number().int('a whole number of seconds').min(1, 'at least 1 second').max(31_536_000);

export const credentialRequest = z.object({ ttlSeconds: ttlSeconds.optional() }).strict();
export const agreementRequest = z.object({ version: z.string().min(1).max(100) }).strict();
