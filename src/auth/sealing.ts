// Secrets the gate must keep but never show (issuer refresh tokens, token signing keys) are
// stored sealed: AES-GCM under a key derived from SESSION_SECRET, which never sits in the
// database. The row's own id is the additional data, so a sealed value copied to another row
// does not open.
import { builtinSha256HexBytes } from '../audit/verify.js';

const enc = new TextEncoder();
/** node:crypto's synchronous SHA-256 where the runtime has it: hashing a cookie is on every request. */
const builtinSha256 = builtinSha256HexBytes();

export const b64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const fromB64url = (s: string) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (ch) => ch.charCodeAt(0));

export async function sha256Hex(text: string): Promise<string> {
  if (builtinSha256) return builtinSha256(enc.encode(text));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** 32 random bytes, base64url (43 characters). */
export const randomToken = () => b64url(crypto.getRandomValues(new Uint8Array(32)));

export class Sealer {
  private readonly key: Promise<CryptoKey>;

  /** `purpose` separates keys: a value sealed for one purpose does not open for another. */
  constructor(secret: string, purpose: string) {
    this.key = (async () => {
      const base = await crypto.subtle.importKey('raw', enc.encode(secret), 'HKDF', false, ['deriveKey']);
      return crypto.subtle.deriveKey(
        { name: 'HKDF', hash: 'SHA-256', salt: enc.encode('fdwg-access-gate'), info: enc.encode(purpose) },
        base,
        { name: 'AES-GCM', length: 256 },
        false,
        ['encrypt', 'decrypt'],
      );
    })();
  }

  async seal(plain: string, rowId: string): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: enc.encode(rowId) }, await this.key, enc.encode(plain)),
    );
    return `${b64url(iv)}.${b64url(sealed)}`;
  }

  async open(sealed: string, rowId: string): Promise<string> {
    const [iv = '', body = ''] = sealed.split('.');
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: fromB64url(iv), additionalData: enc.encode(rowId) },
      await this.key,
      fromB64url(body),
    );
    return new TextDecoder().decode(plain);
  }
}
