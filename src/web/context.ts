// What every server-rendered page needs, built one way: who is signed in, what they may see in
// the header, the CSP nonce and the form token. Also the check every unsafe form post makes.
import type { Context } from 'hono';
import { standingHere } from '../access/guard.js';
import { csrfToken, verifyFormToken } from '../auth/csrf.js';
import type { Identity } from '../auth/identity.js';
import type { AppConfig } from '../config.js';
import { AppError } from '../errors.js';
import type { AppEnv } from '../types.js';
import type { PageContext } from './layout.js';

/** `current` is the section the page belongs to (its header link is marked). */
export async function pageContext(
  c: Context<AppEnv>,
  config: AppConfig,
  title: string,
  opts: { current?: string; wide?: boolean } = {},
): Promise<PageContext> {
  const identity = c.get('identity');
  const session = c.get('session');
  return {
    title,
    demo: config.demo,
    identity,
    nonce: c.get('secureHeadersNonce'),
    csrf: session ? await csrfToken(config.sessionSecret, session.id) : undefined,
    standing: standingHere(c),
    current: opts.current,
    wide: opts.wide,
  };
}

/** Unsafe form posts need a session and a valid token. */
export async function formIdentity(c: Context<AppEnv>, config: AppConfig, token: string): Promise<Identity> {
  const identity = c.get('identity');
  const session = c.get('session');
  if (!identity || !session) throw new AppError('unauthenticated', 'Your session has ended. Sign in again.');
  await verifyFormToken(config.sessionSecret, session.id, token);
  return identity;
}
