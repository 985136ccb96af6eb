// Short-lived analyst passwords. 32 bytes (256 bits) from the platform CSPRNG, base64url without
// padding: only [A-Za-z0-9_-], so the password can go into a connection URI, a .pgpass line or a
// shell variable without escaping (no ':', '\\', '@', '/', '%', '+', '=' or quotes), and it is ASCII,
// so SCRAM's SASLprep step cannot change it.
import { base64 } from './scram.js';

const PASSWORD_BYTES = 32;

export function generatePassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(PASSWORD_BYTES));
  return base64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
