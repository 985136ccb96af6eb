import { z } from 'zod';

const groups = z.array(z.string().min(1)).default([]);
/** PostgreSQL interval text such as `5min` or `30s`; kept narrow so it can be quoted as a literal safely. */
const duration = z.string().regex(/^\d+\s*(ms|s|min|h)$/, 'a duration such as 30s, 5min or 1h');
const schemaName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case PostgreSQL schema name');

export const policySchema = z
  .object({
    admission: z.object({
      member_groups: z.array(z.string().min(1)).min(1),
      approver_groups: groups,
      auditor_groups: groups,
      admin_groups: groups,
    }),
    agreement: z.object({
      version: z.string().min(1),
      title: z.string().min(1),
      file: z.string().min(1),
    }),
    credentials: z.object({
      ttl_default: z.number().int().positive(),
      ttl_max: z.number().int().positive(),
      connection_limit: z.number().int().positive().max(100).default(5),
      statement_timeout: duration.default('5min'),
    }),
    tiers: z.object({
      pseudonymized: z.object({ schemas: z.array(schemaName).min(1) }),
      pii: z.object({ schemas: z.array(schemaName).min(1) }),
    }),
  })
  .refine((p) => p.credentials.ttl_default <= p.credentials.ttl_max, {
    message: 'must not exceed credentials.ttl_max',
    path: ['credentials', 'ttl_default'],
  });

export type PolicyDocument = z.infer<typeof policySchema>;

/** The policy in force: the validated document plus the agreement text it points to. */
export interface Policy extends PolicyDocument {
  agreementText: string;
}
