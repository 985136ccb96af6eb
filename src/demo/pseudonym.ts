// Keyed pseudonyms for usernames. Web Crypto only (globalThis.crypto.subtle) so the same code
// runs on Node and on Cloudflare Workers.
//
// HMAC rather than a plain hash: usernames are a small, guessable space, so an unkeyed
// SHA-256(username) could be reversed by hashing a list of Fedora accounts. Without the key,
// a pseudonym reveals nothing; with it, the mapping is stable across reloads.
//
// Length: 16 hex digits = 64 bits. The only risk of a short pseudonym is two users colliding;
// by the birthday bound that needs ~2^32 (4 billion) accounts for a 50% chance, and for the
// ~100k accounts Fedora has ever had the chance is about n^2 / 2^65 ≈ 3e-10. A collision would
// also fail loudly, not silently: pii.users has the pseudonym as primary key.

export const PSEUDONYM_PREFIX = 'u_';
const HEX_DIGITS = 16;

const encoder = new TextEncoder();
// One import per key string: importKey is the slow part of Web Crypto HMAC. Caching the
// promise (not the key) also dedupes concurrent first calls.
const keyCache = new Map<string, Promise<CryptoKey>>();

function hmacKey(key: string): Promise<CryptoKey> {
  let k = keyCache.get(key);
  if (k === undefined) {
    if (key.length === 0) throw new Error('pseudonym key must not be empty');
    k = globalThis.crypto.subtle.importKey('raw', encoder.encode(key), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'sign',
    ]);
    keyCache.set(key, k);
  }
  return k;
}

/** `u_` + the first 16 hex digits of HMAC-SHA256(key, username). */
export async function pseudonymFor(key: string, username: string): Promise<string> {
  const mac = await globalThis.crypto.subtle.sign('HMAC', await hmacKey(key), encoder.encode(username));
  let hex = '';
  for (const byte of new Uint8Array(mac, 0, HEX_DIGITS / 2)) hex += byte.toString(16).padStart(2, '0');
  return PSEUDONYM_PREFIX + hex;
}

/** Pseudonyms for many usernames at once, as a lookup table. */
export async function pseudonymTable(key: string, usernames: Iterable<string>): Promise<Map<string, string>> {
  const names = [...usernames];
  const pseudonyms = await Promise.all(names.map((n) => pseudonymFor(key, n)));
  return new Map(names.map((n, i) => [n, pseudonyms[i] as string]));
}
