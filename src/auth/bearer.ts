// API and CLI callers present a bearer JWT from the issuer instead of the browser cookie; it is
// verified here with jose against the issuer's published keys (signature, issuer, audience, expiry).
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { AppConfig } from '../config.js';
import { AppError } from '../errors.js';
import type { Identity } from './identity.js';

const asString = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

export function createBearerVerifier(config: AppConfig, jwksUri: () => Promise<string>) {
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  const { oidc } = config;

  return async function verifyBearer(token: string): Promise<Identity> {
    if (!jwks) jwks = createRemoteJWKSet(new URL(await jwksUri()), { cooldownDuration: 30_000 });
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, jwks, { issuer: oidc.issuer, audience: oidc.clientId, clockTolerance: 30 }));
    } catch (err) {
      if (err instanceof errors.JWKSTimeout || (err as { name?: string }).name === 'TypeError') {
        throw new AppError('idp_unavailable', 'The sign-in service is not reachable, so the token cannot be checked right now.');
      }
      const reason = err instanceof errors.JWTExpired ? 'the token has expired' : 'the token is not valid for this gate';
      throw new AppError('unauthenticated', `Bearer token refused: ${reason}.`);
    }
    const username = asString(payload[oidc.usernameClaim]);
    const sub = asString(payload.sub);
    if (!username || !sub) {
      throw new AppError('unauthenticated', `Bearer token refused: it carries no "${oidc.usernameClaim}" claim.`);
    }
    const groups = payload[oidc.groupsClaim];
    // An Ipsilon ID token carries no groups (they come from UserInfo): admitting such a token with
    // no groups would be guessing. Refuse it and say why.
    if (!Array.isArray(groups)) {
      throw new AppError('unauthenticated', `Bearer token refused: it carries no "${oidc.groupsClaim}" claim, so membership cannot be checked.`);
    }
    return {
      sub,
      username,
      email: asString(payload.email) ?? null,
      name: asString(payload.name) ?? null,
      groups: groups.filter((g): g is string => typeof g === 'string'),
    };
  };
}
