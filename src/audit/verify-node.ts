// Node: verifyChain with node:crypto's synchronous SHA-256, what `npm run audit:verify`
// (src/node/audit-verify.ts) and the hourly anchoring (src/node/anchoring.ts) run.
import crypto from 'node:crypto';
import type pg from 'pg';
import { builtinSha256HexBytes, verifyChain } from './verify.js';

// crypto.hash (one shot, Node >= 20.12) is about twice as fast as createHash for short inputs.
const oneShot = (crypto as { hash?: (algorithm: string, data: string | Uint8Array, encoding: 'hex') => string }).hash;

/** SHA-256 hex of a string's UTF-8 (node:crypto, synchronous). */
export const nodeSha256Hex: (text: string) => string = oneShot
  ? (text) => oneShot('sha256', text, 'hex')
  : (text) => crypto.createHash('sha256').update(text).digest('hex');

/** SHA-256 hex of bytes (node:crypto, synchronous): what verifyChain uses from Node. */
export const nodeSha256HexBytes: (bytes: Uint8Array) => string =
  builtinSha256HexBytes() ?? ((bytes) => crypto.createHash('sha256').update(bytes).digest('hex'));

/** verifyChain with the fast node:crypto hasher. */
export function verifyChainNode(pool: pg.Pool, opts: { onProgress?: (checked: number) => void; batchSize?: number } = {}) {
  return verifyChain(pool, { ...opts, sha256HexBytes: nodeSha256HexBytes });
}
