// Node-only: keeps signed anchors of the access log's head in a file outside the database, and
// checks the log against them. The chain alone cannot show that its newest events were cut off;
// an anchor taken earlier can (see src/audit/anchor.ts). Ship the file somewhere the database's
// operators cannot rewrite (a log collector, object storage with retention, a ticket).
import { appendFile, readFile } from 'node:fs/promises';
import type pg from 'pg';
import { type AnchorCheck, checkAnchor, readAnchor, signAnchor } from '../audit/anchor.js';
import type { ChainStatus } from '../audit/verify.js';
import { verifyChainNode } from '../audit/verify-node.js';
import type { Logger } from '../log.js';
import { every } from './every.js';

export const ANCHOR_INTERVAL_MS = 3_600_000;

export const anchorKey = (secret: string) => new TextEncoder().encode(secret);

/**
 * Verifies the chain and, when it is intact and not empty, appends a signed anchor of its head
 * (one JWT per line). A broken chain is never anchored: that would bless the damage.
 */
export async function appendAnchor(pool: pg.Pool, file: string, key: Uint8Array): Promise<{ status: ChainStatus; anchored: boolean }> {
  const status = await verifyChainNode(pool);
  if (!status.ok || status.headId === null) return { status, anchored: false };
  await appendFile(file, `${await signAnchor(status, key)}\n`, { mode: 0o600 });
  return { status, anchored: true };
}

export type AnchorFileCheck =
  | { ok: true; anchors: number; newest: AnchorCheck | null }
  | { ok: false; anchors: number; detail: string; newest?: AnchorCheck };

/**
 * Checks the newest anchor in `file` against a verified chain. Older anchors are implied by it (the
 * chain links them), but every line must still carry a valid signature: a forged or edited line
 * means the file itself was tampered with.
 */
export async function checkAnchorFile(pool: pg.Pool, file: string, key: Uint8Array, status: ChainStatus): Promise<AnchorFileCheck> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, anchors: 0, newest: null };
    throw err;
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  let newest: Awaited<ReturnType<typeof readAnchor>> | null = null;
  for (const [i, line] of lines.entries()) {
    let anchor;
    try {
      anchor = await readAnchor(line.trim(), key);
    } catch {
      return { ok: false, anchors: lines.length, detail: `line ${i + 1} of ${file} is not a valid anchor (bad signature or format)` };
    }
    if (!newest || anchor.headId > newest.headId) newest = anchor;
  }
  if (!newest) return { ok: true, anchors: 0, newest: null };
  const check = await checkAnchor(pool, newest, status);
  return check.ok ? { ok: true, anchors: lines.length, newest: check } : { ok: false, anchors: lines.length, detail: check.detail, newest: check };
}

/** Anchors now and then on an interval. Returns a stop function. */
export function startAnchoring(pool: pg.Pool, logger: Logger, o: { file: string; key: Uint8Array; intervalMs?: number }): () => Promise<void> {
  return every('anchoring', o.intervalMs ?? ANCHOR_INTERVAL_MS, logger, async () => {
    const { status, anchored } = await appendAnchor(pool, o.file, o.key);
    if (!status.ok) logger.error('access log chain is broken; not anchoring', { firstBroken: status.firstBroken });
    else if (anchored) logger.info('access log anchored', { headId: status.headId, events: status.checked });
  });
}
