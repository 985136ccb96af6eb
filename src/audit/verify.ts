// Walks the hash chain of audit_events and reports the first broken link. Runtime-agnostic (plain
// `pg`, no node: imports): hashes with node:crypto where the runtime offers it (found at run time,
// see builtinSha256HexBytes), else with Web Crypto; callers may pass their own hasher.
//
// Per row, in id order:
//   link  prev_hash must equal the previous row's stored hash (GENESIS_HASH for the first row).
//         A DELETE shows here, at the row after the deleted one; so do an UPDATE that also
//         recomputed the edited row's hash, and rows removed from the start of the log.
//   hash  hash must equal SHA-256 of the row's canonical text (chain.ts). An UPDATE shows here.
// Removing rows from the end leaves a valid, shorter chain: only an anchor (a signed copy of an
// earlier head, kept elsewhere) can show that.
//
// How it is fast: the rows arrive as `COPY (SELECT ...) TO STDOUT` text (src/db/copy-out.ts, run
// by ./dal.ts), in keyset batches inside one REPEATABLE READ snapshot. A synchronous hasher checks each line as it
// arrives, so PostgreSQL produces the next rows while this process hashes; an asynchronous one
// (Web Crypto) starts every digest as its line arrives and the checks run, in order, while the
// next batch streams in. The canonical text of each line is built by chain-encoder.ts, as bytes
// straight from the line's bytes when it can.
import type pg from 'pg';
import { GENESIS_HASH } from './chain.js';
import { RowEncoder, copyField, decodeUtf8, leadingInteger, rowFromCopyLine } from './chain-encoder.js';
import { beginChainSnapshot, copyChainBatch, endChainSnapshot } from './dal.js';

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
  /**
   * SHA-256 as lower-case hex of the UTF-8 text. Default: node:crypto when the runtime provides it
   * (builtinSha256HexBytes), else Web Crypto. A synchronous one is much faster (rows are then
   * checked as they arrive).
   */
  sha256Hex?: (text: string) => string | Promise<string>;
  /**
   * The same over the UTF-8 bytes, used instead of sha256Hex when given (saves decoding each row).
   * The bytes are only valid during the call: an asynchronous one must copy them first (Web
   * Crypto's digest does).
   */
  sha256HexBytes?: (bytes: Uint8Array) => string | Promise<string>;
  /** Called after every batch with the number of rows checked so far. */
  onProgress?: (checked: number) => void;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const encoder = new TextEncoder();

/** SHA-256 hex via Web Crypto (works on every runtime the gate runs on; one promise per row). */
export async function webCryptoSha256HexBytes(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let out = '';
  for (let i = 0; i < digest.length; i++) out += HEX[digest[i]!];
  return out;
}

export const webCryptoSha256Hex = (text: string): Promise<string> => webCryptoSha256HexBytes(encoder.encode(text));

/**
 * node:crypto's synchronous SHA-256 when the runtime has it (Node; Workers with nodejs_compat),
 * reached through process.getBuiltinModule rather than an import, so this module still bundles
 * for any runtime. About ten times faster here than Web Crypto's one promise per row.
 */
export function builtinSha256HexBytes(): ((bytes: Uint8Array) => string) | undefined {
  type NodeCrypto = {
    hash?: (algorithm: string, data: Uint8Array, encoding: 'hex') => string;
    createHash?: (algorithm: string) => { update(data: Uint8Array): { digest(encoding: 'hex'): string } };
  };
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    const c = proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
    const hash = c?.hash;
    if (typeof hash === 'function') return (bytes) => hash('sha256', bytes, 'hex');
    const createHash = c?.createHash;
    if (typeof createHash === 'function') return (bytes) => createHash('sha256').update(bytes).digest('hex');
  } catch {
    // not available: Web Crypto it is
  }
  return undefined;
}

// ------------------------------------------------------------------------------------------------
// The walk

interface Pending {
  id: number;
  prevHash: string;
  hash: string;
  digest: string | Promise<string>;
}

type Digest = (data: Uint8Array) => string | Promise<string>;

class ChainWalk {
  prevHash = GENESIS_HASH;
  checked = 0;
  headId: number | null = null;
  headHash: string | null = null;
  broken?: ChainStatus['firstBroken'];
  private readonly enc = new RowEncoder();
  /** Rows whose digest is still a promise, in order; nothing is checked inline while it is non-empty. */
  private queue: Pending[] = [];
  private readonly digest: Digest;

  constructor(opts: VerifyOptions) {
    const text = opts.sha256Hex;
    this.digest =
      opts.sha256HexBytes ??
      (text ? (bytes) => text(decodeUtf8(bytes, 0, bytes.length)) : (builtinSha256HexBytes() ?? webCryptoSha256HexBytes));
  }

  line(b: Uint8Array, start: number, end: number): void {
    if (this.broken) return;
    const enc = this.enc;
    const encoded = enc.encode(b, start, end);
    if (encoded && this.queue.length === 0) {
      // Fast path: bytes in, compare against the line's bytes; no strings unless something is wrong.
      const digest = this.digest(enc.out.subarray(0, enc.len));
      if (typeof digest === 'string') {
        this.checked++;
        const prev = enc.latin1(b, 8);
        const stored = enc.latin1(b, 9);
        if (prev !== this.prevHash) {
          this.broken = { id: enc.id(b), expected: this.prevHash, found: this.field(b, 8), reason: 'link' };
        } else if (stored !== digest) {
          this.broken = { id: enc.id(b), expected: digest, found: this.field(b, 9), reason: 'hash' };
        } else {
          this.prevHash = digest;
          this.headId = enc.id(b);
          this.headHash = digest;
        }
        return;
      }
      this.queue.push({ id: enc.id(b), prevHash: this.field(b, 8), hash: this.field(b, 9), digest });
      return;
    }
    let pending: Pending;
    if (encoded) {
      pending = { id: enc.id(b), prevHash: this.field(b, 8), hash: this.field(b, 9), digest: this.digest(enc.out.slice(0, enc.len)) };
    } else {
      const row = rowFromCopyLine(decodeUtf8(b, start, end));
      pending = { id: Number(row.id), prevHash: row.prevHash, hash: row.hash, digest: this.digest(utf8(row.text)) };
    }
    if (this.queue.length === 0 && typeof pending.digest === 'string') this.check(pending, pending.digest);
    else this.queue.push(pending);
  }

  /** Field k of the line last given to the encoder, unescaped. */
  private field(b: Uint8Array, k: number): string {
    return copyField(decodeUtf8(b, this.enc.fs[k]!, this.enc.fs[k + 1]! - 1)) ?? '\\N';
  }

  async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const items = this.queue.slice();
      const digests = await Promise.all(items.map((x) => x.digest));
      for (let k = 0; k < items.length; k++) this.check(items[k]!, digests[k]!);
      this.queue.splice(0, items.length);
    }
  }

  private check(row: Pending, computed: string): void {
    if (this.broken) return;
    this.checked++;
    if (row.prevHash !== this.prevHash) {
      this.broken = { id: row.id, expected: this.prevHash, found: row.prevHash, reason: 'link' };
    } else if (row.hash !== computed) {
      this.broken = { id: row.id, expected: computed, found: row.hash, reason: 'hash' };
    } else {
      this.prevHash = row.hash;
      this.headId = row.id;
      this.headHash = row.hash;
    }
  }
}

const utf8 = (s: string) => encoder.encode(s);

/**
 * Verifies the whole chain in one REPEATABLE READ snapshot, in keyset batches, and stops at the
 * first broken row. Needs only SELECT on audit_events (the gate's login is enough).
 */
export async function verifyChain(pool: pg.Pool, opts: VerifyOptions = {}): Promise<ChainStatus> {
  const started = performance.now();
  const batchSize = Math.max(1, Math.floor(opts.batchSize ?? 20_000));
  const walk = new ChainWalk(opts);
  const client = await pool.connect();
  let failed = false;
  let inFlight: Promise<unknown> | undefined;
  try {
    await beginChainSnapshot(client);
    const batch = (afterId: number | null): Promise<{ rows: number; lastId: number | null }> => {
      const state = { rows: 0, lastId: afterId };
      const copied = copyChainBatch(client, afterId, batchSize, (b, start, end) => {
        state.rows++;
        state.lastId = leadingInteger(b, start);
        walk.line(b, start, end);
      });
      const done = copied.then(() => state);
      done.catch(() => {}); // awaited below; this only keeps a failure of a prefetched batch from being "unhandled"
      inFlight = done;
      return done;
    };
    let current: Promise<{ rows: number; lastId: number | null }> | null = batch(null);
    while (current) {
      const { rows, lastId }: { rows: number; lastId: number | null } = await current;
      // Fetch the next batch while the digests of this one (if asynchronous) are checked.
      current = rows === batchSize && !walk.broken ? batch(lastId) : null;
      await walk.drain();
      opts.onProgress?.(walk.checked);
      if (walk.broken) break;
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    if (inFlight) await inFlight.catch(() => {}); // a batch may still stream after an early stop
    if (failed) {
      client.release(true); // mid-transaction after an error: discard the connection
    } else {
      try {
        await endChainSnapshot(client);
        client.release();
      } catch {
        client.release(true);
      }
    }
  }
  return {
    ok: walk.broken === undefined,
    checked: walk.checked,
    headId: walk.headId,
    headHash: walk.headHash,
    ...(walk.broken ? { firstBroken: walk.broken } : {}),
    seconds: (performance.now() - started) / 1000,
  };
}
