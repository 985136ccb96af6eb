// Which approved PII request let an analyst read a table at a given moment: the link an auditor
// follows from a pgaudit-recorded statement back to the purpose and the approver.
import type { ControlDb } from '../db/client.js';
import type { PiiDataset } from '../policy/schema.js';
import { grantsInForceAt } from './dal.js';
import type { FindRequestInForce, RequestInForce } from './pgaudit-ingest.js';

/**
 * A grant covers a read when the read's time lies in [starts_at, the earlier of expires_at and
 * ended_at). A read after expires_at but before a late sweep revoked the membership was possible
 * in PostgreSQL, yet outside what was approved: it stays unlinked, so the auditor sees an alert.
 *
 * Every table the statement touched must be covered by a dataset in force; a join of a covered
 * table with one no grant covered is an alert too. The event names the grant of the first table.
 */
export function requestInForceLookup(db: ControlDb, datasets: readonly PiiDataset[]): FindRequestInForce {
  const datasetsOf = new Map<string, string[]>();
  for (const d of datasets) for (const t of d.tables) datasetsOf.set(t, [...(datasetsOf.get(t) ?? []), d.name]);

  return async (username, at, objects) => {
    const rows = await grantsInForceAt(db, username, at);
    if (rows.length === 0) return null;
    const byDataset = new Map(rows.map((r) => [r.dataset, r]));
    let first: RequestInForce | null = null;
    for (const object of objects) {
      const grant = (datasetsOf.get(object) ?? []).map((d) => byDataset.get(d)).find((g) => g !== undefined);
      if (!grant) return null;
      first ??= { requestId: grant.requestId, purpose: grant.purpose, dataset: grant.dataset };
    }
    return first;
  };
}
