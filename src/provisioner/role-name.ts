// Per-analyst PostgreSQL role names derived from OIDC usernames.
//
// Two analysts must never share a role, and the name must survive PostgreSQL unchanged: it is
// stored exactly as written only if it is lower case (no case folding when someone forgets to
// quote) and at most 63 bytes (longer identifiers are silently TRUNCATED, which would merge
// distinct names). The mapping is a persistent contract: changing it orphans existing roles.
//
//   clean username (segments of [a-z0-9] joined by single '_', <= 46 chars):  <prefix>_<username>
//   anything else:  <prefix>_<readable>__<h>, h = first 16 base32 chars (80 bits) of SHA-256(UTF-8 username)
//
// Injectivity, looking at what follows "<prefix>_" (the prefix is fixed per deployment):
//   - clean vs clean: identity.
//   - clean vs hashed: a clean remainder never contains "__", a hashed one always does.
//   - hashed vs hashed: the last 16 chars are the hash of the raw username, so two usernames collide
//     only if their SHA-256 agrees in the first 80 bits (finding a second username for a given one
//     costs ~2^80 work). The readable part is decoration and plays no role in uniqueness.
// Budget: prefix <= 16 + '_' + 46 = 63 bytes; hashed: 28 readable + '__' + 16 = 46.

const PREFIX_RE = /^[a-z][a-z0-9_]{0,15}$/;
const CLEAN_RE = /^[a-z0-9]+(?:_[a-z0-9]+)*$/;
const MAX_REMAINDER = 46;
const HASH_CHARS = 16;
const MAX_READABLE = MAX_REMAINDER - 2 - HASH_CHARS;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'; // RFC 4648 alphabet, lower-cased for identifiers

/**
 * True if `s` is a role name PostgreSQL stores exactly as written: lower-case `[a-z_][a-z0-9_]*`,
 * at most 63 bytes, not reserved (`pg_*`, `public`, `none`). It may still be an SQL keyword
 * (e.g. `user`), so always quote it (client.escapeIdentifier / format('%I')) when building SQL.
 */
export function isSafeIdentifier(s: string): boolean {
  return (
    /^[a-z_][a-z0-9_]*$/.test(s) && s.length <= 63 && !s.startsWith('pg_') && s !== 'public' && s !== 'none'
  );
}

function checkPrefix(prefix: string): void {
  // "pg" would yield "pg_<user>", which PostgreSQL reserves for system roles.
  if (!PREFIX_RE.test(prefix) || prefix === 'pg' || prefix.startsWith('pg_')) {
    throw new RangeError(`invalid role prefix ${JSON.stringify(prefix)}: need ^[a-z][a-z0-9_]{0,15}$, not pg/pg_*`);
  }
}

function base32(bytes: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1; // keep only the unconsumed bits so acc never overflows
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  return out;
}

/** Human hint only (uniqueness comes from the hash): accents stripped, lower-cased, runs of other chars -> '_'. */
function readable(username: string): string {
  return username
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, MAX_READABLE)
    .replace(/_+$/, '');
}

/**
 * The role name for `username` under `prefix`. Async because the hash uses Web Crypto
 * (crypto.subtle), which keeps the module runnable on Cloudflare Workers without a hand-rolled SHA-256.
 * Throws on an empty username and on strings with unpaired surrogates (UTF-8 encoding would turn
 * every lone surrogate into U+FFFD, making different JS strings hash alike).
 */
export async function analystRoleName(prefix: string, username: string): Promise<string> {
  checkPrefix(prefix);
  if (typeof username !== 'string' || username.length === 0) throw new TypeError('username must be a non-empty string');
  if (/\p{Cs}/u.test(username)) throw new TypeError('username is not well-formed Unicode (unpaired surrogate)');

  // `fdwg_` and `fdwg` both give `fdwg_alice`: the separator is there once.
  const head = prefix.endsWith('_') ? prefix : `${prefix}_`;
  if (username.length <= MAX_REMAINDER && CLEAN_RE.test(username)) return `${head}${username}`;

  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(username));
  const hash = base32(new Uint8Array(digest, 0, (HASH_CHARS * 5) / 8));
  return `${head}${readable(username)}__${hash}`;
}
