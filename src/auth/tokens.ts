// Gate-minted bearer tokens for the CLI and scripts (ES256 JWTs, `kid` in the header, public keys
// at /.well-known/jwks.json). A token is only a signed pointer: its `jti` names a row in
// gate_sessions (kind 'token'), and every request loads that row, so signing out, `fdwg logout`,
// an admin ending the person's sessions or leaving the FDWG ends the token on the next request.
//
// Keys live in the control database (private halves sealed under SESSION_SECRET), so every gate
// instance, Node or Workers, signs and verifies with the same set. A key signs for ROTATE_AFTER;
// then a new one takes over and the old one keeps verifying until every token it signed expired.
import { type JWK, SignJWT, createLocalJWKSet, errors, exportJWK, generateKeyPair, importJWK, jwtVerify } from 'jose';
import type { ControlDb } from '../db/client.js';
import { AppError } from '../errors.js';
import * as dal from './dal.js';
import { Sealer, b64url } from './sealing.js';

const ALG = 'ES256';
/** The longest a gate token may live; the configured lifetime is at most this. */
export const TOKEN_MAX_SECONDS = 12 * 3600;
const ROTATE_AFTER_SECONDS = 30 * 24 * 3600;
/** How long verification keys are cached; an unknown `kid` reloads sooner (a new key elsewhere). */
const CACHE_MS = 60_000;
/** But not more often than this: random `kid`s must not turn into a query per request. */
const RELOAD_MIN_MS = 1_000;
/** Tokens whose signature was checked, remembered so a CLI's next request skips the ECDSA work. */
const VERIFIED_MAX = 10_000;
const CLOCK_TOLERANCE_SECONDS = 5;

interface SigningKey {
  kid: string;
  key: CryptoKey;
}

export class GateTokens {
  private readonly sealer: Sealer;
  private signing?: Promise<SigningKey>;
  private verifying?: { at: number; jwks: ReturnType<typeof createLocalJWKSet>; kids: Set<string> };
  /**
   * token -> its jti, key and expiry, for tokens whose signature, issuer and audience passed. The
   * bytes of a token cannot change, so only time and its key can make it fail later: expiry is
   * checked on every use, and an entry counts only while its key is among the verifying keys (an
   * early retirement drops it at the next reload of the keys, as for a token never seen). Whether
   * the token's row is still live is never cached: the caller loads it on every request.
   */
  private readonly verified = new Map<string, { jti: string; kid: string; exp: number }>();

  constructor(
    private readonly db: ControlDb,
    secret: string,
    /** The gate's public URL: issuer and audience of its tokens. */
    private readonly audience: string,
    /** Lifetime of new tokens, seconds (at most TOKEN_MAX_SECONDS). */
    readonly ttlSeconds: number,
  ) {
    this.sealer = new Sealer(secret, 'token signing key');
  }

  async mint(jti: string, sub: string, username: string, expiresAt: Date): Promise<string> {
    const { kid, key } = await this.signingKey();
    return new SignJWT({ username })
      .setProtectedHeader({ alg: ALG, kid, typ: 'JWT' })
      .setIssuer(this.audience)
      .setAudience(this.audience)
      .setSubject(sub)
      .setJti(jti)
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(key);
  }

  /** Checks signature, issuer, audience and expiry; returns the jti (the caller loads its row). */
  async verify(token: string): Promise<string> {
    const refuse = (reason: string) => new AppError('unauthenticated', `Bearer token refused: ${reason}. Sign in again (fdwg login).`);
    const known = this.verified.get(token);
    if (known) {
      // The hot path of every CLI request: no header parsing, no await while the keys are fresh.
      const fresh = this.verifying !== undefined && Date.now() - this.verifying.at <= CACHE_MS;
      if (!fresh) await this.keySet(token); // reloads stale keys, as a full verification would
      if (this.verifying?.kids.has(known.kid) && Date.now() / 1000 - CLOCK_TOLERANCE_SECONDS < known.exp) return known.jti;
      // Expired or its key retired: verify in full, which says why.
      this.verified.delete(token);
    }
    let payload;
    let protectedHeader;
    try {
      ({ payload, protectedHeader } = await jwtVerify(token, await this.keySet(token), {
        algorithms: [ALG],
        issuer: this.audience,
        audience: this.audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      if (err instanceof AppError) throw err;
      if (err instanceof errors.JWTExpired) throw refuse('the token has expired');
      if (err instanceof errors.JWKSNoMatchingKey) throw refuse('it was signed by a key this gate does not know (or no longer uses)');
      if (err instanceof errors.JWTClaimValidationFailed) throw refuse(`its "${err.claim}" claim is not for this gate`);
      throw refuse('it is not a valid token of this gate');
    }
    if (typeof payload.jti !== 'string' || payload.jti === '') throw refuse('it carries no token id');
    if (this.verified.size >= VERIFIED_MAX) this.verified.clear();
    if (protectedHeader.kid) this.verified.set(token, { jti: payload.jti, kid: protectedHeader.kid, exp: payload.exp! });
    return payload.jti;
  }

  /** Public keys that verify: the signing key and those not yet retired. */
  async publicJwks(): Promise<{ keys: JWK[] }> {
    await this.signingKey();
    const rows = await this.verifiableRows();
    return { keys: rows.map((r) => ({ ...r.publicJwk, kid: r.kid, alg: ALG, use: 'sig' }) as JWK) };
  }

  /**
   * Starts signing with a new key now; the old ones verify until the tokens they signed have
   * expired. Runs by itself every ROTATE_AFTER; callable for an early rotation.
   */
  async rotate(): Promise<string> {
    const kid = b64url(crypto.getRandomValues(new Uint8Array(12)));
    const { publicKey, privateKey } = await generateKeyPair(ALG, { extractable: true });
    const sealed = await this.sealer.seal(JSON.stringify(await exportJWK(privateKey)), kid);
    await dal.rotateSigningKey(this.db, { kid, publicJwk: await exportJWK(publicKey), sealedPrivateJwk: sealed, graceSeconds: TOKEN_MAX_SECONDS + 60 });
    this.signing = undefined;
    this.verifying = undefined;
    return kid;
  }

  private signingKey(): Promise<SigningKey> {
    this.signing ??= this.loadSigningKey().catch((err) => {
      this.signing = undefined;
      throw err;
    });
    return this.signing;
  }

  private async loadSigningKey(): Promise<SigningKey> {
    const row = await dal.newestSigningKey(this.db, ROTATE_AFTER_SECONDS);
    if (!row || row.old) {
      // Two instances rotating at once each add a key; both verify, the newest signs.
      await this.rotate();
      return this.loadSigningKey();
    }
    const jwk = JSON.parse(await this.sealer.open(row.privateJwk, row.kid)) as JWK;
    return { kid: row.kid, key: (await importJWK(jwk, ALG)) as CryptoKey };
  }

  private verifiableRows() {
    return dal.verifyingKeys(this.db);
  }

  private async keySet(token: string) {
    const kid = headerKid(token);
    const age = this.verifying ? Date.now() - this.verifying.at : Infinity;
    const stale = age > CACHE_MS || (kid !== undefined && !this.verifying!.kids.has(kid) && age > RELOAD_MIN_MS);
    if (stale) {
      const rows = await this.verifiableRows();
      this.verifying = {
        at: Date.now(),
        kids: new Set(rows.map((r) => r.kid)),
        jwks: createLocalJWKSet({ keys: rows.map((r) => ({ ...r.publicJwk, kid: r.kid, alg: ALG }) as JWK) }),
      };
    }
    return this.verifying!.jwks;
  }
}

function headerKid(token: string): string | undefined {
  try {
    const header = JSON.parse(atob((token.split('.')[0] ?? '').replace(/-/g, '+').replace(/_/g, '/'))) as { kid?: unknown };
    return typeof header.kid === 'string' ? header.kid : undefined;
  } catch {
    return undefined;
  }
}
