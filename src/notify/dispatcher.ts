// Delivers queued webhook notifications (src/notify/outbox.ts). Runtime-agnostic: Web Crypto for
// the signature, global fetch for the POST, so Node and Workers share it.
//
// No transaction is held across an HTTP call. A run claims a small batch of due rows with FOR
// UPDATE SKIP LOCKED in one short statement that also takes a lease (next_attempt_at moves past the
// attempt's timeout) and counts the attempt; then it sends; then it records the outcome. Several
// instances never claim the same row, a slow receiver never holds a lock a decision needs, and a
// crash mid-send leaves the row to be retried when its lease runs out: delivery is at least once,
// and receivers dedupe on X-FDWG-Delivery.
//
// Order per request: a row is not claimed while an earlier row of the same request is still
// pending (neither delivered nor given up), so "decided" never overtakes "created".
//
// Signature scheme (the README documents it for receivers):
//   X-FDWG-Timestamp: <unix seconds at send time>
//   X-FDWG-Signature: sha256=<lower-case hex of HMAC-SHA256(secret, "<timestamp>.<raw body>")>
// The timestamp is signed so a captured request cannot be replayed outside the receiver's window;
// each attempt is signed afresh.
import type { ControlDb } from '../db/client.js';
import { type ClaimedRow, claimDue, giveUpStale, markDelivered, markFailed, scheduleRetry } from './dal.js';
import type { NotificationBody } from './outbox.js';

export interface WebhookTarget {
  url: string;
  secret: string;
  maxAttempts: number;
}

export interface DispatcherOptions {
  /** Per attempt, until the receiver has answered with a status. Default 10 s. */
  timeoutMs?: number;
  /** First retry delay; doubles per attempt. Default 5 s. */
  baseDelayMs?: number;
  /** Retry delays stop growing here. Default 1 h. */
  maxDelayMs?: number;
  /** Rows claimed per statement. Default 10. */
  batchSize?: number;
  /** Notifications older than this are given up without being sent. Default 24 h. */
  maxAgeMs?: number;
  /** Source of jitter (tests make it deterministic). */
  random?: () => number;
}

export interface DeliveryReport {
  delivered: number;
  /** Failed this time, will be retried. */
  retried: number;
  /** Gave up after the last attempt. */
  failed: number;
  /** Too old to send when first seen (queued while no webhook was configured, or blocked too long). */
  stale: number;
}

type Claimed = ClaimedRow<NotificationBody>;

const encoder = new TextEncoder();
const hex = (buf: ArrayBuffer) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');

/** `sha256=<hex>` over `<timestamp>.<body>`; exported so tests and receivers' docs share one definition. */
export async function signatureFor(secret: string | CryptoKey, timestamp: string, body: string): Promise<string> {
  const key =
    typeof secret === 'string'
      ? await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
      : secret;
  return `sha256=${hex(await crypto.subtle.sign('HMAC', key, encoder.encode(`${timestamp}.${body}`)))}`;
}

/** What went wrong, without echoing the URL (it may carry a token) or the receiver's body. */
function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; cause?: { code?: unknown; name?: unknown } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `timeout after ${timeoutMs} ms`;
  const code = e?.cause?.code ?? e?.cause?.name;
  if (typeof code === 'string' && /^[A-Za-z0-9_]{1,40}$/.test(code)) return `network error (${code})`;
  return `network error (${typeof e?.name === 'string' ? e.name : 'unknown'})`;
}

export class WebhookDispatcher {
  private readonly timeoutMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly batchSize: number;
  private readonly maxAgeMs: number;
  private readonly leaseMs: number;
  private readonly random: () => number;
  private key?: Promise<CryptoKey>;

  constructor(
    private readonly db: ControlDb,
    private readonly target: WebhookTarget,
    opts: DispatcherOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.baseDelayMs = opts.baseDelayMs ?? 5_000;
    this.maxDelayMs = opts.maxDelayMs ?? 3_600_000;
    this.batchSize = opts.batchSize ?? 10;
    this.maxAgeMs = opts.maxAgeMs ?? 86_400_000;
    this.random = opts.random ?? Math.random;
    // Past the attempt's timeout with a margin, so a live attempt is never claimed twice.
    this.leaseMs = this.timeoutMs + 30_000;
  }

  /** Delay before attempt `attempts + 1`: exponential, capped, with ±20 % jitter. */
  backoffMs(attempts: number): number {
    const exp = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(attempts - 1, 30));
    return Math.round(exp * (0.8 + 0.4 * this.random()));
  }

  /** Sends what is due, batch by batch, until nothing is due or `maxRows` were attempted. */
  async deliverDue(opts: { maxRows?: number } = {}): Promise<DeliveryReport> {
    const maxRows = opts.maxRows ?? 200;
    const report: DeliveryReport = { delivered: 0, retried: 0, failed: 0, stale: 0 };
    report.stale = await giveUpStale(this.db, this.maxAgeMs);
    let attempted = 0;
    while (attempted < maxRows) {
      const rows: Claimed[] = await claimDue<NotificationBody>(this.db, Math.min(this.batchSize, maxRows - attempted), this.leaseMs);
      if (rows.length === 0) break;
      attempted += rows.length;
      const outcomes = await Promise.all(rows.map((r) => this.attempt(r)));
      for (const o of outcomes) report[o]++;
    }
    return report;
  }

  private async attempt(row: Claimed): Promise<'delivered' | 'retried' | 'failed'> {
    const body = JSON.stringify(row.payload);
    const timestamp = String(Math.floor(Date.now() / 1000));
    let error: string;
    try {
      this.key ??= crypto.subtle.importKey('raw', encoder.encode(this.target.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      const res = await fetch(this.target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'fdwg-access-gate-webhook/1',
          'x-fdwg-event': row.event,
          'x-fdwg-delivery': String(row.id),
          'x-fdwg-attempt': String(row.attempts),
          'x-fdwg-timestamp': timestamp,
          'x-fdwg-signature': await signatureFor(await this.key, timestamp, body),
        },
        body,
        // A redirect would carry the signed body somewhere else: treat it as a failure instead.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      // The receiver's body is never read or stored.
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) {
        await markDelivered(this.db, row.id);
        return 'delivered';
      }
      error = `HTTP ${res.status}`;
    } catch (err) {
      error = describeFailure(err, this.timeoutMs);
    }
    const last = row.attempts >= this.target.maxAttempts;
    // `attempts` fences the update: if this lease ran out and another run took the row, that run records.
    if (last) await markFailed(this.db, row.id, row.attempts, error);
    else await scheduleRetry(this.db, row.id, row.attempts, error, this.backoffMs(row.attempts));
    return last ? 'failed' : 'retried';
  }
}
