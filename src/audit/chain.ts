// Runtime-agnostic hashing of audit rows (Web Crypto), shared by append and verify.
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

/**
 * The row's canonical text between `at` and `prev_hash`: `actor,subject,action,requestId,dataset,details`.
 * The database wraps it with the time and the head it takes under the chain lock
 * (migrations/0004_audit_append.sql).
 */
export function canonicalRowMiddle(f: Omit<ChainedFields, 'at' | 'prevHash'>): string {
  return canonicalJson([f.actor, f.subject, f.action, f.requestId, f.dataset, f.details]).slice(1, -1);
}

/** The exact text that is hashed for a row. */
export function canonicalRowText(f: ChainedFields): string {
  return `[${JSON.stringify(f.at)},${canonicalRowMiddle(f)},${JSON.stringify(f.prevHash)}]`;
}

export async function rowHash(f: ChainedFields): Promise<string> {
  const text = canonicalRowText(f);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
