// An independent check of the access log's chain for tests: plain SQL rows, the writer's own
// canonical form, nothing from src/audit/verify.ts (which has its own tests).
import { expect } from 'vitest';
import { GENESIS_HASH, rowHash } from '../../src/audit/chain.js';
import { withClient } from './pg.js';

/** SHA-256 of one stored row, recomputed from its fields. */
export function storedRowHash(r: Record<string, any>): Promise<string> {
  return rowHash({
    at: new Date(r.at).toISOString(),
    actor: r.actor,
    subject: r.subject,
    action: r.action,
    requestId: r.request_id,
    dataset: r.dataset,
    details: r.details,
    prevHash: r.prev_hash,
  });
}

/** Every row links to the one before it and hashes to what it stores. Returns the rows. */
export async function expectChainIntact(controlAdminUrl: string): Promise<Record<string, any>[]> {
  const rows = await withClient(controlAdminUrl, async (c) => (await c.query(`SELECT * FROM audit_events ORDER BY id`)).rows);
  let prev = GENESIS_HASH;
  for (const r of rows) {
    expect(r.prev_hash, `event ${r.id} links to the one before`).toBe(prev);
    expect(r.hash, `event ${r.id} hashes to what it stores`).toBe(await storedRowHash(r));
    prev = r.hash;
  }
  return rows;
}
