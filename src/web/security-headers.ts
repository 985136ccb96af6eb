// The security headers of every answer, pages, API, errors and redirects alike. The same headers,
// values and overwrite-rule as hono's secureHeaders with the gate's options, but the list is built
// once: secureHeaders rebuilt the Content-Security-Policy per request (a callback pass, array
// copies and a join) around the nonce, which is all that changes from one answer to the next.
import type { MiddlewareHandler } from 'hono';
import { NONCE } from './nonce.js';

export interface SecurityHeaderOptions {
  /** Where forms may post besides the gate itself (sign-out redirects to the issuer). */
  formActionOrigins: string[];
  /** The Strict-Transport-Security value, or false (plain-HTTP development). */
  strictTransportSecurity: string | false;
}

/** The Content-Security-Policy with `nonce` (`'nonce-…'`) for scripts and styles. */
export function contentSecurityPolicy(formActionOrigins: string[]): (nonce: string) => string {
  const before = "default-src 'none'; script-src ";
  const between = '; style-src ';
  const after = `; img-src 'self' data:; connect-src 'self'; form-action ${["'self'", ...formActionOrigins].join(' ')}; frame-ancestors 'none'; base-uri 'none'`;
  return (nonce) => before + nonce + between + nonce + after;
}

export function securityHeaders(opts: SecurityHeaderOptions): MiddlewareHandler {
  const fixed: Array<[string, string]> = [
    ['Cross-Origin-Resource-Policy', 'same-origin'],
    ['Cross-Origin-Opener-Policy', 'same-origin'],
    ['Origin-Agent-Cluster', '?1'],
    // Chromium sends `Origin: null` on form posts under no-referrer, which the origin check refuses.
    ['Referrer-Policy', 'same-origin'],
    ...(opts.strictTransportSecurity ? ([['Strict-Transport-Security', opts.strictTransportSecurity]] as Array<[string, string]>) : []),
    ['X-Content-Type-Options', 'nosniff'],
    ['X-DNS-Prefetch-Control', 'off'],
    ['X-Download-Options', 'noopen'],
    ['X-Frame-Options', 'SAMEORIGIN'],
    ['X-Permitted-Cross-Domain-Policies', 'none'],
    ['X-XSS-Protection', '0'],
  ];
  const csp = contentSecurityPolicy(opts.formActionOrigins);
  return async function securityHeaders(c, next) {
    // Drawn before the handler runs: pages put it on their script and style tags.
    const policy = csp(NONCE(c));
    await next();
    // Set over whatever a handler set, as secureHeaders did (its `overwrite`).
    const headers = c.res.headers;
    for (const [name, value] of fixed) headers.set(name, value);
    headers.set('Content-Security-Policy', policy);
    headers.delete('X-Powered-By');
  };
}
