// How a command line gets a gate token, two ways, both ending in a token that copies a live
// browser session's identity (so the person went through the normal SSO sign-in):
// - loopback (RFC 8252): the browser session approves, the gate redirects to the CLI's listener on
//   127.0.0.1 with a one-time code bound to the CLI's PKCE challenge; the CLI exchanges it;
// - device style (as RFC 8628), for ssh and JupyterHub: the CLI gets a device code and a short user
//   code, the person types the user code into a signed-in browser anywhere, the CLI polls.
// Codes are single use, expire (2 and 10 minutes), and are stored only as SHA-256 digests.
import { appendAudit } from '../audit/log.js';
import type { ControlDb } from '../db/client.js';
import { AppError } from '../errors.js';
import * as dal from './dal.js';
import { b64url, randomToken, sha256Hex } from './sealing.js';
import type { SessionStore } from './sessions.js';
import type { GateTokens } from './tokens.js';

export const DEVICE_CODE_SECONDS = 600;
const LOOPBACK_CODE_SECONDS = 120;
/** Device codes handed out per minute, all callers together, before new ones are refused. */
const DEVICE_STARTS_PER_MINUTE = 60;
/** Wrong user codes one browser session may type per 10 minutes. */
const USER_CODE_FAILURES = 5;
// No vowels (no words), no look-alikes: 20^8 = 2.6e10 codes.
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

export interface IssuedToken {
  token: string;
  tokenType: 'Bearer';
  expiresAt: string;
  username: string;
}

/** Where a loopback sign-in may send the browser back: the CLI's listener on this machine only. */
export function loopbackRedirect(raw: string): URL | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  const loopback = url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  return url.protocol === 'http:' && loopback && url.port !== '' && !url.username && !url.password && !url.hash ? url : null;
}

export function normalizeUserCode(raw: string): string {
  const letters = raw.toUpperCase().replace(/[^A-Z]/g, '');
  return letters.length === 8 ? `${letters.slice(0, 4)}-${letters.slice(4)}` : letters;
}

function newUserCode(): string {
  // 256 is a multiple of 20's nearest power... it is not: reject bytes >= 240 to stay uniform.
  let code = '';
  while (code.length < 8) {
    for (const b of crypto.getRandomValues(new Uint8Array(16))) {
      if (b < 240 && code.length < 8) code += USER_CODE_ALPHABET[b % 20];
    }
  }
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

async function s256(verifier: string): Promise<string> {
  return b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
}

export class CliLogins {
  constructor(
    private readonly db: ControlDb,
    private readonly sessions: SessionStore,
    private readonly tokens: GateTokens,
    /** Seconds a polling CLI must wait between polls. */
    readonly pollSeconds: number,
  ) {}

  /** Device style, step 1 (the CLI): a device code to poll with and a user code to type. */
  async startDevice(clientName: string): Promise<{ deviceCode: string; userCode: string; expiresIn: number; interval: number }> {
    if ((await dal.deviceStartsLastMinute(this.db)) >= DEVICE_STARTS_PER_MINUTE) {
      throw new AppError('rate_limited', 'Too many sign-ins are starting right now. Try again in a minute.');
    }
    const deviceCode = randomToken();
    for (let attempt = 0; ; attempt++) {
      const userCode = newUserCode();
      const inserted = await dal.insertDeviceLogin(this.db, { id: await sha256Hex(deviceCode), userCode, clientName, ttlSeconds: DEVICE_CODE_SECONDS });
      // A clash with a pending user code (one in 2.6e10 per pending code) draws another.
      if (inserted) return { deviceCode, userCode, expiresIn: DEVICE_CODE_SECONDS, interval: this.pollSeconds };
      if (attempt > 5) throw new AppError('rate_limited', 'Could not start a sign-in right now. Try again.');
    }
  }

  /** What the confirmation page shows for a user code, or null when there is no such pending code. */
  async pendingDevice(userCode: string): Promise<{ clientName: string | null; requestedAt: Date; minutesAgo: number } | null> {
    const row = await dal.pendingDeviceLogin(this.db, normalizeUserCode(userCode));
    return row ?? null;
  }

  /** Device style, step 2 (the person, signed in): confirms or refuses the code they were shown. */
  async confirmDevice(sessionId: string, username: string, userCode: string, allow: boolean): Promise<{ clientName: string | null }> {
    if ((await this.sessions.codeFailures(sessionId)) >= USER_CODE_FAILURES) {
      throw new AppError('rate_limited', 'Too many wrong codes. Wait ten minutes, then start again with a new code.');
    }
    const row = await dal.decideDeviceLogin(this.db, normalizeUserCode(userCode), allow ? 'approved' : 'denied', sessionId);
    if (!row) {
      const failures = await this.sessions.codeFailure(sessionId);
      throw new AppError('bad_request', `That code is not one we are waiting for (mistyped, expired or used). ${Math.max(0, USER_CODE_FAILURES - failures)} tries left.`, { username });
    }
    return row;
  }

  /** Loopback, the person's approval: a one-time code for the CLI listening at `redirect`. */
  async approveLoopback(sessionId: string, redirect: URL, codeChallenge: string, clientName: string): Promise<string> {
    const code = randomToken();
    await dal.insertLoopbackLogin(this.db, {
      id: await sha256Hex(code),
      codeChallenge,
      redirectUri: redirect.toString(),
      clientName,
      sessionId,
      ttlSeconds: LOOPBACK_CODE_SECONDS,
    });
    return code;
  }

  /** Loopback, the CLI: the code and the PKCE verifier for a token. */
  async exchangeCode(code: string, codeVerifier: string, redirectUri: string): Promise<IssuedToken> {
    const row = await dal.useLoopbackLogin(this.db, await sha256Hex(code));
    if (!row) throw new AppError('expired', 'That sign-in code expired or was already used. Run `fdwg login` again.');
    if (row.redirectUri !== redirectUri) throw new AppError('bad_request', 'The redirect URI does not match the one the sign-in began with.');
    if ((await s256(codeVerifier)) !== row.challenge) throw new AppError('bad_request', 'The code verifier does not match the sign-in\'s challenge (PKCE).');
    return this.mint(row.sessionId!, row.clientName ?? 'fdwg');
  }

  /** Device style, the CLI's poll: pending, slow down, refused, expired, or the token. */
  async pollDevice(deviceCode: string): Promise<IssuedToken> {
    const id = await sha256Hex(deviceCode);
    const row = await dal.pollDeviceLogin(this.db, id, this.pollSeconds);
    if (!row) throw new AppError('bad_request', 'Unknown device code. Run `fdwg login --device` again.');
    if (row.status === 'used' || row.expired) throw new AppError('expired', 'The sign-in code expired or was used. Run `fdwg login --device` again.');
    if (row.status === 'denied') throw new AppError('access_denied', 'The sign-in was refused in the browser.');
    if (row.tooSoon) throw new AppError('slow_down', `Polling too fast: wait ${this.pollSeconds + 5} seconds between polls.`);
    if (row.status === 'pending') throw new AppError('authorization_pending', 'Waiting for the code to be confirmed in the browser.');
    const used = await dal.useApprovedDeviceLogin(this.db, id);
    if (!used) throw new AppError('expired', 'The sign-in code was already used.');
    return this.mint(row.sessionId!, row.clientName ?? 'fdwg');
  }

  private async mint(sessionId: string, clientName: string): Promise<IssuedToken> {
    const made = await this.db.transaction(async (tx) => {
      const token = await this.sessions.createToken(tx, sessionId, clientName, this.tokens.ttlSeconds);
      if (!token) return null;
      await appendAudit(tx, {
        action: 'token.issued',
        actor: token.identity.username,
        subject: token.identity.username,
        details: { client: clientName, expiresAt: token.expiresAt.toISOString() },
      });
      return token;
    });
    if (!made) throw new AppError('unauthenticated', 'The browser session that approved this sign-in has ended. Run `fdwg login` again.');
    return {
      token: await this.tokens.mint(made.jti, made.identity.sub, made.identity.username, made.expiresAt),
      tokenType: 'Bearer',
      expiresAt: made.expiresAt.toISOString(),
      username: made.identity.username,
    };
  }
}
