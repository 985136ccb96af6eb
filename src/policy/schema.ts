import { z } from 'zod';

const groups = z.array(z.string().min(1)).default([]);
/** PostgreSQL interval text such as `5min` or `30s`; kept narrow so it can be quoted as a literal safely. */
const duration = z.string().regex(/^\d+\s*(ms|s|min|h)$/, 'a duration such as 30s, 5min or 1h');
const schemaName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case PostgreSQL schema name');
/** A table named with its schema, `schema.table`, lower case (no quoting games in policy files). */
const qualifiedTable = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$/, 'a table as schema.table, lower case');
/** Glob over names: `*` matches any run of characters, everything else is literal. */
const namePattern = z.string().regex(/^[a-z0-9_*]+$/, 'a name pattern of a-z, 0-9, _ and *');
/** `schema.table.column` where each part may use `*`. */
const columnPattern = z
  .string()
  .regex(/^[a-z0-9_*]+\.[a-z0-9_*]+\.[a-z0-9_*]+$/, 'a column as schema.table.column (each part may use *)');

const UNIT_SECONDS = { s: 1, min: 60, h: 3600, d: 86400 } as const;
/** A span of time such as `90min`, `72h` or `30d`, read as whole seconds. */
export const span = z
  .string()
  .regex(/^\d+\s*(s|min|h|d)$/, 'a span such as 90min, 72h or 30d')
  .transform((text) => {
    const m = /^(\d+)\s*(s|min|h|d)$/.exec(text)!;
    return Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
  })
  .refine((s) => s > 0, 'must be longer than zero');

/** Dataset names become role names (`<prefix>pii_<name>`), so they are kept short and plain. */
export const datasetName = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, 'a dataset name: a-z, 0-9 and _, at most 40 characters, starting with a letter');

const piiDataset = z.object({
  name: datasetName,
  description: z.string().min(1),
  tables: z.array(qualifiedTable).min(1),
  /** Longest grant an approver may give (a span, read as seconds). */
  max_duration: span,
  approvals_required: z.number().int().min(1).max(5).default(1),
  min_purpose_length: z.number().int().min(1).max(2000).default(40),
});

const dictionaryColumn = z.object({ column: columnPattern, description: z.string().optional() });
/** How `npm run tiers` rewrites message bodies (src/tiers/rewrite.ts): dotted paths into `msg`. */
const jsonPath = z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'a dotted JSON path such as commit.email');
const dictionaryMessages = z
  .object({
    /** Values that are usernames: replaced by the period's pseudonym. */
    username_paths: z.array(jsonPath).default([]),
    /** Text holding a username in its first capture group (a wiki `User:<name>` title). */
    username_in_text: z.array(z.object({ path: jsonPath, pattern: z.string().min(1) })).default([]),
    /** Free text moved to the pii tier with its author's name and e-mail (also moved). */
    free_text: z
      .array(z.object({ path: jsonPath, kind: z.enum(['comment', 'commit']), author_name: jsonPath.optional(), author_email: jsonPath.optional() }))
      .default([]),
    /** Removed from the pseudonymized tier without a copy (derived text, avatar URLs naming the user). */
    drop: z.array(jsonPath).default([]),
    /** Header keys `<prefix><username>`: the username part becomes the pseudonym. */
    header_user_prefix: z.string().regex(/^[a-z0-9_]+$/).default('fedora_messaging_user_'),
    /** Accounts of services, not people: kept as they are. */
    service_accounts: z.array(z.string().min(1)).default([]),
  })
  .prefault({});

const dictionaryJson = z
  .object({
    column: columnPattern,
    /** Keys (at any depth) whose names carry personal data, e.g. `fedora_messaging_user_*`. */
    key_patterns: z.array(z.string().regex(/^[A-Za-z0-9_*.-]+$/, 'a key pattern of letters, digits, _ . - and *')).default([]),
    /** Dotted paths into the JSON value that hold personal data, e.g. `commit.email`. */
    paths: z.array(z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'a dotted JSON path such as commit.email')).default([]),
    description: z.string().optional(),
  })
  .refine((j) => j.key_patterns.length + j.paths.length > 0, 'name at least one key pattern or path');

/** Alert rules (src/alerts/): each evaluated on every ingested PII statement. */
const alertName = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, 'an alert name: a-z, 0-9 and _, starting with a letter');
const alertRule = z.discriminatedUnion('kind', [
  /** More than `max` PII statements by one analyst within any hour (fires on the crossing one). */
  z.object({ name: alertName, kind: z.literal('statements_per_hour'), max: z.number().int().min(1).max(1_000_000) }).strict(),
  /** A statement on a PII table without any WHERE clause (a whole-table read). */
  z.object({ name: alertName, kind: z.literal('no_where_clause') }).strict(),
  /** COPY out of a PII table (psql's \copy too). */
  z.object({ name: alertName, kind: z.literal('copy_out') }).strict(),
  /** A read within `within` of the end of the grant it was made under. */
  z.object({ name: alertName, kind: z.literal('grant_ending'), within: span }).strict(),
]);
export type AlertRule = z.infer<typeof alertRule>;

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
      pseudonymized: z.object({
        schemas: z.array(schemaName).min(1),
        /** Table-name patterns within those schemas; default every table. */
        tables: z.array(namePattern).min(1).default(['*']),
      }),
      pii: z.object({ schemas: z.array(schemaName).min(1) }),
    }),
    pii_datasets: z.array(piiDataset).default([]),
    requests: z
      .object({
        /** A request nobody decided within this span expires. */
        review_window: span.prefault('72h'),
        /** Notify this long before a grant ends. */
        expiring_soon: span.prefault('1h'),
      })
      .prefault({}),
    pii_dictionary: z
      .object({
        columns: z.array(dictionaryColumn).default([]),
        json: z.array(dictionaryJson).default([]),
        messages: dictionaryMessages,
      })
      .prefault({}),
    leak_guard: z
      .object({
        /** Rows sampled per pseudonymized table for value and JSON-key checks. */
        sample_rows: z.number().int().min(1).max(100_000).default(2000),
      })
      .prefault({}),
    alerts: z.array(alertRule).default([]),
    /** Pseudonym keys (src/tiers/keys.ts): one key per period; a new period, new pseudonyms. */
    pseudonyms: z.object({ rotation: z.enum(['none', 'yearly', 'quarterly']).default('none') }).prefault({}),
  })
  .refine((p) => p.credentials.ttl_default <= p.credentials.ttl_max, {
    message: 'must not exceed credentials.ttl_max',
    path: ['credentials', 'ttl_default'],
  })
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.pii_datasets.forEach((d, i) => {
      // `<prefix>pii_audit` is pgaudit's role: a dataset of that name would hand it out.
      if (d.name === 'audit') ctx.addIssue({ code: 'custom', message: 'the name audit is reserved (pgaudit role)', path: ['pii_datasets', i, 'name'] });
      if (seen.has(d.name)) ctx.addIssue({ code: 'custom', message: `dataset ${d.name} is declared twice`, path: ['pii_datasets', i, 'name'] });
      seen.add(d.name);
      d.tables.forEach((t, j) => {
        if (!p.tiers.pii.schemas.includes(t.split('.')[0]!)) {
          ctx.addIssue({ code: 'custom', message: `${t} is not in a PII schema (${p.tiers.pii.schemas.join(', ')})`, path: ['pii_datasets', i, 'tables', j] });
        }
      });
    });
    const alertNames = new Set<string>();
    p.alerts.forEach((a, i) => {
      if (alertNames.has(a.name)) ctx.addIssue({ code: 'custom', message: `alert ${a.name} is declared twice`, path: ['alerts', i, 'name'] });
      alertNames.add(a.name);
    });
    p.tiers.pseudonymized.schemas.forEach((s, i) => {
      if (p.tiers.pii.schemas.includes(s)) ctx.addIssue({ code: 'custom', message: `schema ${s} cannot be in both tiers`, path: ['tiers', 'pseudonymized', 'schemas', i] });
    });
  });

export type PolicyDocument = z.infer<typeof policySchema>;
export type PiiDataset = PolicyDocument['pii_datasets'][number];

/** The policy in force: the validated document plus the agreement text it points to. */
export interface Policy extends PolicyDocument {
  agreementText: string;
  /** The policy file's text as read: its SHA-256 identifies the policy in force (see version.ts). */
  sourceText: string;
}
