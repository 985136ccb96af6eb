// The access log's canonical form: the exact text each row's SHA-256 covers, defined here once.
// Runtime-agnostic (Web Crypto). Who builds it:
//   - the writer, from a row's values: log.ts sends canonicalRowMiddle, and the database wraps it
//     with `at` and the head it takes under the chain lock (migrations/0004_audit_append.sql);
//   - the verifier, from PostgreSQL's COPY text (chain-encoder.ts): its string path goes through
//     canonicalRowLayout, its byte path (RowEncoder) writes the same bytes directly;
//   - tests, through canonicalRowText and rowHash.
// test/audit-canonical.test.ts pins the form byte for byte (fixed events, their text and hash).
export const GENESIS_HASH = '0'.repeat(64);

export interface ChainedFields {
  at: string; // ISO-8601 UTC with milliseconds
  actor: string;
  subject: string | null;
  action: string;
  requestId: number | null;
  dataset: string | null;
  details: unknown;
  prevHash: string;
}

/** JSON with object keys sorted at every depth, so jsonb's own key order never matters. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** Each field of a row already as its canonical JSON text. */
export type CanonicalParts = { readonly [K in keyof ChainedFields]: string };
type MiddleParts = Omit<CanonicalParts, 'at' | 'prevHash'>;

const middleLayout = (p: MiddleParts) => `${p.actor},${p.subject},${p.action},${p.requestId},${p.dataset},${p.details}`;

/**
 * The layout of the canonical row text: a JSON array without whitespace of
 * `[at, actor, subject, action, requestId, dataset, details, prevHash]`. Each part must already be
 * canonical JSON: a string as JSON.stringify writes it, null as `null`, an integer in JavaScript's
 * form, details as canonicalJson.
 */
export function canonicalRowLayout(p: CanonicalParts): string {
  return `[${p.at},${middleLayout(p)},${p.prevHash}]`;
}

const middleParts = (f: Omit<ChainedFields, 'at' | 'prevHash'>): MiddleParts => ({
  actor: canonicalJson(f.actor),
  subject: canonicalJson(f.subject),
  action: canonicalJson(f.action),
  requestId: canonicalJson(f.requestId),
  dataset: canonicalJson(f.dataset),
  details: canonicalJson(f.details),
});

/**
 * The row's canonical text between `at` and `prev_hash`: `actor,subject,action,requestId,dataset,details`.
 * The database wraps it with the time and the head it takes under the chain lock
 * (migrations/0004_audit_append.sql).
 */
export function canonicalRowMiddle(f: Omit<ChainedFields, 'at' | 'prevHash'>): string {
  return middleLayout(middleParts(f));
}

/** The exact text that is hashed for a row. */
export function canonicalRowText(f: ChainedFields): string {
  return canonicalRowLayout({ at: JSON.stringify(f.at), ...middleParts(f), prevHash: JSON.stringify(f.prevHash) });
}

export async function rowHash(f: ChainedFields): Promise<string> {
  const text = canonicalRowText(f);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
