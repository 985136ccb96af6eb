// z from @hono/zod-openapi is zod itself, extended with `.openapi()` (descriptions for /openapi.json).
import { z } from '@hono/zod-openapi';

// --- Building blocks: what PostgreSQL will take, checked before it is asked ------------------
// Every value from a request that reaches SQL goes through one of these (JSON bodies, forms,
// query strings and path ids alike), so bad input is a 400 that names the field, never a
// database error turned into a 500.

/** PostgreSQL text cannot hold NUL, and an unpaired UTF-16 surrogate is not text at all (jsonb refuses its escape). */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
export const isStorableText = (s: string) => !UNSTORABLE.test(s);
export const STORABLE_TEXT_MESSAGE = 'must not contain NUL characters or unpaired UTF-16 surrogates';
/** An invalid value echoed in an error message: short, with what made it invalid replaced. */
export const printable = (raw: string) => raw.replace(/[\u0000\uD800-\uDFFF]/g, '\uFFFD').slice(0, 40);

/** Free text (a purpose, a comment, a filter value) of at most `max` characters. */
export const safeText = (max: number) =>
  z.string().max(max, `at most ${max} characters`).refine(isStorableText, STORABLE_TEXT_MESSAGE);

/**
 * A whole number, in JSON only as a number: no `true`, `[5]`, `"0x10"` or `"3600"`. HTML forms
 * send strings: `formBody` turns a field of decimal digits into a number for such a field and
 * leaves anything else to be refused here.
 */
export const wholeNumber = (what: string) => z.number({ error: `${what} as a JSON number` }).int(`${what} as a whole number`);

export const INT4_MAX = 2_147_483_647;
/** An id as it arrives in a path or query string: decimal digits, 1 to 2147483647 (PostgreSQL's integer). */
export const int4Id = z
  .string()
  .regex(/^\d{1,10}$/, 'a positive integer')
  .transform(Number)
  .refine((n) => n >= 1 && n <= INT4_MAX, `a positive integer up to ${INT4_MAX}`);
/** A bigserial id (access-log events): decimal digits, 1 to 2^53 - 1 (exact in JavaScript). */
export const bigintId = z
  .string()
  .regex(/^\d{1,16}$/, 'a positive integer')
  .transform(Number)
  .refine((n) => n >= 1 && Number.isSafeInteger(n), `a positive integer up to ${Number.MAX_SAFE_INTEGER}`);

/** The instants every runtime and PostgreSQL agree on: years 1 to 9999, UTC. */
export const TIMESTAMP_MIN = Date.parse('0001-01-01T00:00:00.000Z');
export const TIMESTAMP_MAX = Date.parse('9999-12-31T23:59:59.999Z');
const ISO_8601 = /^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:?\d\d)?)?$/;
/**
 * An ISO-8601 date or date-time (four-digit year) between years 1 and 9999. JavaScript alone
 * would also take `99999`, `0000-…` or `+275760-…`, which PostgreSQL refuses or `toISOString` throws on.
 */
export const isoInstant = z
  .string()
  .regex(ISO_8601, 'an ISO-8601 date or time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z')
  .transform((s) => new Date(s))
  .refine((d) => !Number.isNaN(d.getTime()), 'an ISO-8601 date or time that exists')
  .refine((d) => d.getTime() >= TIMESTAMP_MIN && d.getTime() <= TIMESTAMP_MAX, 'a time between the years 1 and 9999');

// --- Request bodies ------------------------------------------------------------------------------

/** Requested credential lifetime; above the policy maximum it is cut to the maximum. */
export const ttlSeconds = wholeNumber('ttlSeconds').min(1, 'at least 1 second').max(31_536_000);

export const credentialRequest = z
  .object({
    ttlSeconds: ttlSeconds.optional().openapi({ description: 'Lifetime in seconds; default and maximum from the policy (a longer one is cut to the maximum).', example: 28800 }),
  })
  .strict()
  .openapi('CredentialRequest');
export const agreementRequest = z
  .object({ version: safeText(100).min(1).openapi({ description: 'The version you accept: the current one (`agreement.version` of GET /api/me).', example: '2026-01' }) })
  .strict()
  .openapi('AgreementRequest');

// PII requests (issue 4). Only the shape is checked here; the policy's rules (known dataset,
// purpose length, longest duration) are checked by the service, which names the broken rule.
const datasetNames = z.array(safeText(64).min(1, 'a dataset name')).min(1, 'at least one dataset').max(20);
export const piiRequestCreate = z
  .object({
    datasets: datasetNames.openapi({ description: 'Names from GET /api/datasets.', example: ['maintainer_identities'] }),
    purpose: safeText(4000).openapi({ description: "Why you need it; at least the dataset's `minPurposeLength` characters." }),
    durationSeconds: wholeNumber('durationSeconds')
      .min(60, 'at least 60 seconds')
      .max(31_536_000)
      .openapi({ description: "How long access lasts once granted; at most the dataset's `maxDurationSeconds`.", example: 604800 }),
  })
  .strict()
  .openapi('PiiRequestCreate');
const comment = z
  .string()
  .trim()
  .max(2000, 'at most 2000 characters')
  .refine(isStorableText, STORABLE_TEXT_MESSAGE)
  .optional()
  .openapi({ description: 'A short note, kept in the audit log (a review comment is also shown with the request).' });
export const piiReview = z
  .object({ decision: z.enum(['approve', 'deny']).openapi({ description: 'One vote per approver; the last approval needed grants.' }), comment })
  .strict()
  .openapi('PiiReview');
export const grantRevoke = z.object({ comment }).strict().openapi('GrantRevoke');
/** Actions that take no input (withdraw, relinquish): an empty body or `{}`. */
export const emptyBody = z.object({}).strict().openapi({ description: 'Nothing: an empty body or `{}`.' });

// --- Path parameters -------------------------------------------------------------------------------

/** `:id` of a request or grant (a PostgreSQL integer). */
/** An id typed by a person (a path, a command-line argument): the number, or why it is not one. */
export function parseInt4Id(raw: string): { ok: true; id: number } | { ok: false; reason: string } {
  const id = int4Id.safeParse(raw);
  return id.success ? { ok: true, id: id.data } : { ok: false, reason: id.error.issues[0]!.message };
}

export const idPath = z.object({ id: int4Id.openapi({ param: { name: 'id', in: 'path' }, description: 'A positive integer up to 2147483647.', example: '42' }) });
/** `:id` of an access-log event (bigserial). */
export const eventIdPath = z.object({
  id: bigintId.openapi({ param: { name: 'id', in: 'path' }, description: `An event id: a positive integer up to ${Number.MAX_SAFE_INTEGER}.`, example: '1234' }),
});
