// SCRAM-SHA-256 password verifiers in PostgreSQL's stored format (RFC 5802 / RFC 7677), built on
// Web Crypto only (no node:crypto, no Buffer) so the same code runs in Node and Cloudflare Workers.
// Sending a verifier instead of the plaintext means the password never appears in SQL text,
// server logs (log_statement) or pg_stat_activity.

const DEFAULT_ITERATIONS = 4096; // PostgreSQL's default scram_iterations
const SALT_BYTES = 16; // PostgreSQL's SCRAM_DEFAULT_SALT_LEN

// RFC 3454 table C.1.2 (non-ASCII spaces -> U+0020) and table B.1 ("commonly mapped to nothing").
// Same tables, same order as PostgreSQL's src/common/saslprep.c and node-postgres' client.
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g;
// eslint-disable-next-line no-misleading-character-class -- these are exactly the code points to strip
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g;

/**
 * The byte-changing part of SASLprep (RFC 4013): map non-ASCII spaces to ' ', drop B.1 characters,
 * NFKC-normalise. Deviation: PostgreSQL and libpq additionally check prohibited characters (control
 * and private-use characters, unassigned code points, bidi rules) and, when one is present, use the
 * raw password bytes instead. We skip that check, exactly as node-postgres does, so a verifier for a
 * password that contains such characters AND changes under this mapping would not match a psql login.
 * Passwords from generatePassword() are ASCII, which SASLprep leaves unchanged.
 */
export function saslprepLite(password: string): string {
  return password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
}

/** Standard base64 (with padding) of raw bytes; btoa is available in Node >= 16 and Workers. */
export function base64(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

export interface ScramOptions {
  /** PBKDF2 iteration count; PostgreSQL's default is 4096. */
  iterations?: number;
  /** Fixed salt, for known-answer tests only; production uses 16 fresh random bytes. */
  salt?: Uint8Array;
}

/**
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, the value PostgreSQL stores in
 * pg_authid.rolpassword, and accepts as-is in `CREATE/ALTER ROLE ... PASSWORD '<verifier>'`.
 */
export async function scramSha256Verifier(password: string, opts: ScramOptions = {}): Promise<string> {
  const iterations = opts.iterations ?? DEFAULT_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw new RangeError('iterations must be a positive integer');
  // Copy: avoids the caller mutating the salt mid-computation and gives an ArrayBuffer-backed view.
  const salt = opts.salt ? new Uint8Array(opts.salt) : crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  if (salt.length === 0) throw new RangeError('salt must not be empty');

  const subtle = globalThis.crypto.subtle;
  const enc = new TextEncoder();
  const pwKey = await subtle.importKey('raw', enc.encode(saslprepLite(password)), 'PBKDF2', false, ['deriveBits']);
  const salted = await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, pwKey, 256);
  const hmacKey = await subtle.importKey('raw', salted, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const clientKey = await subtle.sign('HMAC', hmacKey, enc.encode('Client Key'));
  const storedKey = await subtle.digest('SHA-256', clientKey);
  const serverKey = await subtle.sign('HMAC', hmacKey, enc.encode('Server Key'));

  const b64 = (buf: ArrayBuffer) => base64(new Uint8Array(buf));
  return `SCRAM-SHA-256$${iterations}:${base64(salt)}$${b64(storedKey)}:${b64(serverKey)}`;
}
