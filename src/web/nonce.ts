import type { Context } from 'hono';

// Every response carries a CSP nonce. Drawing 16 random bytes per request costs a synchronous
// random-bytes job each time (about a fifth of a no-op request's CPU on Node 20); drawing them
// from a pool refilled by the same CSPRNG 256 nonces at a time gives the same unpredictable,
// never-repeated nonces (Node buffers randomUUID() the same way). Works on Node and Workers.
const POOL = new Uint8Array(4096);
let offset = POOL.length;

function nextNonce(): string {
  if (offset + 16 > POOL.length) {
    crypto.getRandomValues(POOL);
    offset = 0;
  }
  const bytes = POOL.subarray(offset, offset + 16);
  offset += 16;
  return btoa(String.fromCharCode(...bytes));
}

/** hono's secure-headers NONCE, with pooled randomness: one nonce per request, kept in `secureHeadersNonce`. */
export function NONCE(c: Context): string {
  let nonce = c.get('secureHeadersNonce') as string | undefined;
  if (nonce == null) {
    nonce = nextNonce();
    c.set('secureHeadersNonce', nonce);
  }
  return `'nonce-${nonce}'`;
}
