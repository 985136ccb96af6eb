// Two layers against cross-site requests: every unsafe method must come from our own origin (when
// the browser says where it came from), and every HTML form also carries a token bound to the session.
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../errors.js';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function sameOrigin(publicUrl: string): MiddlewareHandler {
  const origin = new URL(publicUrl).origin;
  return async (c, next) => {
    if (!SAFE.has(c.req.method)) {
      const from = c.req.header('origin');
      const site = c.req.header('sec-fetch-site');
      // Same-site is not enough: other ports on the same host (the dev issuer) are same-site.
      if ((from && from !== origin) || (site && site !== 'same-origin' && site !== 'none')) {
        throw new AppError('csrf_failed', 'Cross-site request refused.');
      }
    }
    await next();
  };
}

async function hmac(secret: string, text: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(text)));
  return btoa(String.fromCharCode(...mac)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A form token belongs to one gate session: it dies with it (sign-out) and differs per sign-in. */
export const csrfToken = (secret: string, sessionId: string) => hmac(secret, `csrf:${sessionId}`);

/** Checks the `_csrf` field of a submitted form against the session's token. */
export async function verifyFormToken(secret: string, sessionId: string, submitted: unknown): Promise<void> {
  const expected = await csrfToken(secret, sessionId);
  if (typeof submitted !== 'string' || submitted.length !== expected.length || !timingSafeEqual(submitted, expected)) {
    throw new AppError('csrf_failed', 'This form has expired. Reload the page and try again.');
  }
}

function timingSafeEqual(a: string, b: string): boolean {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
