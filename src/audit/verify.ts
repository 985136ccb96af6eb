// Walks the hash chain of audit_events and reports the first broken link. Runtime-agnostic (Web
// Crypto by default); the Node CLI passes a synchronous node:crypto hasher, which is much faster.
//
// Per row, in id order:
//   link  prev_hash must equal the previous row's stored hash (GENESIS_HASH for the first row).
//         A DELETE shows here, at the row after the deleted one; so does an UPDATE that also
//         recomputed the edited row's hash, and removing rows from the start of the log.
//   hash  hash must equal SHA-256 of the row's canonical text (chain.ts). An UPDATE shows here.
// Truncating the tail leaves a valid, shorter chain: only an anchor (anchor.ts) detects that.
import type pg from 'pg';
import { GENESIS_HASH, canonicalJson } from './chain.js';

export interface ChainStatus {
  ok: boolean;
  /** Rows examined, including the broken one when there is one. */
  checked: number;
  /**
   * The last event of an intact chain; when broken, the last event before the break (the head of
   * the intact prefix), null when the very first event is broken or the log is empty.
   */
  headId: number | null;
  headHash: string | null;
  firstBroken?: { id: number; expected: string; found: string; reason: 'hash' | 'link' };
  seconds: number;
}

export interface VerifyOptions {
  /** Rows per keyset batch (default 20,000). */
  batchSize?: number;
  /** SHA-256 as lower-case hex of the UTF-8 text; default Web Crypto. A synchronous one is faster. */
  sha256Hex?: (text: string) => string | Promise<string>;
  /** Called after every batch with the number of rows checked so far. */
  onProgress?: (checked: number) => void;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const encoder = new TextEncoder();

/** SHA-256 hex via Web Crypto (the default hasher; works on every runtime the gate runs on). */
export async function webCryptoSha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
  let out = '';
  for (let i = 0; i < digest.length; i++) out += HEX[digest[i]!];
  return out;
}

/** One row as fetched by the walk: every column as PostgreSQL's text, `at` with microseconds. */
export type RawAuditRow = [
  id: string,
  atMicros: string, // 'YYYY-MM-DDTHH:MI:SS.ffffff' (UTC)
  actor: string,
  subject: string | null,
  action: string,
  requestId: string | null,
  dataset: string | null,
  details: string, // jsonb text
  prevHash: string,
  hash: string,
];

/**
 * The writer hashes `new Date().toISOString()` (milliseconds). PostgreSQL keeps microseconds, so a
 * value with a non-zero sub-millisecond part cannot come from the writer: it is kept whole, which
 * makes the hash mismatch (an edit of only the microseconds is detected too).
 */
function isoAt(atMicros: string): string {
  return atMicros.endsWith('000') ? `${atMicros.slice(0, -3)}Z` : `${atMicros}Z`;
}

/**
 * canonicalRowText() of a fetched row, built without the generic walk over an array: identical
 * output (strings and null go through JSON.stringify exactly as canonicalJson does; an integer
 * column's text is its JSON number; jsonb is parsed and re-canonicalised, since jsonb's own text
 * orders keys by length and adds spaces).
 */
export function rawRowText(r: RawAuditRow): string {
  const details = r[7] === '{}' ? '{}' : canonicalJson(JSON.parse(r[7]));
  return (
    `[${JSON.stringify(isoAt(r[1]))},${JSON.stringify(r[2])},${r[3] === null ? 'null' : JSON.stringify(r[3])},` +
    `${JSON.stringify(r[4])},${r[5] ?? 'null'},${r[6] === null ? 'null' : JSON.stringify(r[6])},${details},` +
    `${JSON.stringify(r[8])}]`
  );
}

const BATCH_SQL = `SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), actor, subject, action,
       request_id, dataset, details, prev_hash, hash
  FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2`;
const MIN_ID = '-9223372036854775808';
/** Every column stays text: no per-row type parsing in the driver (details is parsed here). */
const asText = { getTypeParser: () => (value: string) => value };
/** Rows hashed between two yields to the event loop, so the next batch streams in meanwhile. */
const SLICE = 2_000;

const yieldToIo: () => Promise<void> =
  typeof setImmediate === 'function'
    ? () => new Promise<void>((resolve) => setImmediate(resolve))
    : () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Verifies the whole chain in one REPEATABLE READ snapshot, in keyset batches; the next batch is
 * fetched while the current one is hashed. Stops at the first broken row.
 */
export async function verifyChain(pool: pg.Pool, opts: VerifyOptions = {}): Promise<ChainStatus> {
  const started = performance.now();
  const batchSize = Math.max(1, Math.floor(opts.batchSize ?? 20_000));
  const sha = opts.sha256Hex ?? webCryptoSha256Hex;
  const client = await pool.connect();
  let failed = false;
  let pending: Promise<RawAuditRow[]> | null = null;
  const fetchAfter = (id: string) =>
    client
      .query<RawAuditRow>({ name: 'fdwg_audit_verify_batch', text: BATCH_SQL, values: [id, batchSize], rowMode: 'array', types: asText })
      .then((r) => r.rows);

  let checked = 0;
  let headId: string | null = null;
  let headHash: string | null = null;
  let firstBroken: ChainStatus['firstBroken'];
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    let prevHash = GENESIS_HASH;
    pending = fetchAfter(MIN_ID);
    walk: while (pending) {
      const rows: RawAuditRow[] = await pending;
      pending = rows.length === batchSize ? fetchAfter(rows[rows.length - 1]![0]) : null;
      for (let start = 0; start < rows.length; start += SLICE) {
        if (start > 0) await yieldToIo();
        const end = Math.min(rows.length, start + SLICE);
        const hashes: Array<string | Promise<string>> = new Array(end - start);
        let sync = true;
        for (let i = start; i < end; i++) {
          const h = sha(rawRowText(rows[i]!));
          if (typeof h !== 'string') sync = false;
          hashes[i - start] = h;
        }
        const computed = sync ? (hashes as string[]) : await Promise.all(hashes);
        for (let i = start; i < end; i++) {
          const r = rows[i]!;
          checked++;
          if (r[8] !== prevHash) {
            firstBroken = { id: Number(r[0]), expected: prevHash, found: r[8], reason: 'link' };
            break walk;
          }
          const expected = computed[i - start]!;
          if (r[9] !== expected) {
            firstBroken = { id: Number(r[0]), expected, found: r[9], reason: 'hash' };
            break walk;
          }
          prevHash = r[9];
          headId = r[0];
          headHash = r[9];
        }
      }
      opts.onProgress?.(checked);
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    // A batch may still be in flight when the walk stopped early; let it finish first.
    if (pending) await pending.catch(() => {});
    if (failed) {
      client.release(true); // mid-transaction after an error: discard the connection
    } else {
      try {
        await client.query('COMMIT');
        client.release();
      } catch {
        client.release(true);
      }
    }
  }
  return {
    ok: firstBroken === undefined,
    checked,
    headId: headId === null ? null : Number(headId),
    headHash,
    ...(firstBroken ? { firstBroken } : {}),
    seconds: (performance.now() - started) / 1000,
  };
}
