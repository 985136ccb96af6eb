// Chain anchors: a signed copy of the chain head (id and hash) taken at some moment, kept outside
// the database (a log shipped elsewhere, a file, a ticket). The chain alone cannot show that its
// newest events were removed: what remains is a valid, shorter chain. Checked against an anchor,
// the anchored event must still be there, with the same hash, inside an intact chain.
//
// An anchor is a JWT (jose): HS256 with a shared secret (Uint8Array), or EdDSA with an Ed25519
// key pair (sign with the private key; whoever checks needs only the public one, and cannot forge).
import { SignJWT, jwtVerify } from 'jose';
import type pg from 'pg';
import { controlDb } from '../db/client.js';
import { eventHash } from './dal.js';
import type { ChainStatus } from './verify.js';

export interface ChainAnchor {
  headId: number;
  headHash: string;
  /** Events in the chain up to and including the head. */
  events: number;
  /** When the anchor was signed (ISO-8601 UTC). */
  at: string;
}

const TYP = 'fdwg-chain-anchor+jwt';
const SUBJECT = 'audit_events';

type SigningKey = Uint8Array | CryptoKey;
const algFor = (key: SigningKey) => (key instanceof Uint8Array ? 'HS256' : 'EdDSA');

/** Signs the head of an intact chain (a status from verifyChain). */
export async function signAnchor(status: ChainStatus, key: SigningKey, now = new Date()): Promise<string> {
  if (!status.ok) throw new Error('refusing to anchor a broken chain');
  if (status.headId === null || status.headHash === null) throw new Error('nothing to anchor: the log is empty');
  return new SignJWT({ headId: status.headId, headHash: status.headHash, events: status.checked })
    .setProtectedHeader({ alg: algFor(key), typ: TYP })
    .setSubject(SUBJECT)
    .setIssuedAt(Math.floor(now.getTime() / 1000))
    .sign(key);
}

/** Verifies an anchor's signature and returns what it says; throws when it is not a valid anchor. */
export async function readAnchor(jwt: string, key: SigningKey): Promise<ChainAnchor> {
  const { payload } = await jwtVerify(jwt, key, { algorithms: [algFor(key)], typ: TYP, subject: SUBJECT });
  const { headId, headHash, events, iat } = payload as { headId?: unknown; headHash?: unknown; events?: unknown; iat?: number };
  if (typeof headId !== 'number' || typeof headHash !== 'string' || typeof events !== 'number' || typeof iat !== 'number') {
    throw new Error('not a chain anchor');
  }
  return { headId, headHash, events, at: new Date(iat * 1000).toISOString() };
}

export type AnchorCheck =
  | { ok: true; anchor: ChainAnchor }
  /** missing: the anchored event is gone (the tail was cut at or before it); changed: its hash differs; broken: the chain is broken at or before it. */
  | { ok: false; anchor: ChainAnchor; reason: 'missing' | 'changed' | 'broken'; detail: string };

/**
 * Checks a verified chain (status from verifyChain over the same log) against an anchor: the
 * anchored event must exist with the anchored hash and lie within the intact part of the chain.
 */
export async function checkAnchor(pool: pg.Pool, anchor: ChainAnchor, status: ChainStatus): Promise<AnchorCheck> {
  const hash = await eventHash(controlDb(pool), anchor.headId);
  if (hash === undefined) {
    return { ok: false, anchor, reason: 'missing', detail: `event ${anchor.headId}, the head anchored at ${anchor.at}, is gone` };
  }
  if (hash !== anchor.headHash) {
    return { ok: false, anchor, reason: 'changed', detail: `event ${anchor.headId} has hash ${hash}, anchored ${anchor.headHash}` };
  }
  if (status.firstBroken && status.firstBroken.id <= anchor.headId) {
    return { ok: false, anchor, reason: 'broken', detail: `the chain breaks at event ${status.firstBroken.id}, before the anchored head ${anchor.headId}` };
  }
  if (status.ok && (status.headId === null || status.headId < anchor.headId)) {
    // Cannot happen when the row exists and the chain is intact, unless status is of another log.
    return { ok: false, anchor, reason: 'missing', detail: `the verified chain ends at ${status.headId}, before the anchored head ${anchor.headId}` };
  }
  return { ok: true, anchor };
}
