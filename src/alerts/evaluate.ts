// Alert evaluation for a batch of ingested PII statements, in log order: looks up what the rules
// need (two statements per batch: the analysts' recent reads, the grants' ends), then applies the
// pure rules (./rules.ts).
// Runs before the ingest transaction, like the request-in-force lookup.
import type { ControlDb } from '../db/client.js';
import type { AlertRule } from '../policy/schema.js';
import { grantEnds, grantKey, recentReadTimes } from './dal.js';
import { type AlertHit, type StatementFacts, evaluateRules } from './rules.js';

const HOUR_MS = 3_600_000;

export interface BatchStatement extends StatementFacts {
  /** The gate's analyst behind the login role, if any. */
  analyst: string | null;
  request: { requestId: number; dataset: string } | null;
}

export type AlertEvaluator = (batch: BatchStatement[]) => Promise<AlertHit[][]>;

export const noAlerts: AlertEvaluator = async (batch) => batch.map(() => []);

export function alertEvaluator(db: ControlDb, rules: readonly AlertRule[]): AlertEvaluator {
  if (rules.length === 0) return noAlerts;
  const rateLimit = Math.max(0, ...rules.map((r) => (r.kind === 'statements_per_hour' ? r.max + 1 : 0)));
  const wantsGrantEnd = rules.some((r) => r.kind === 'grant_ending');

  return async (batch) => {
    // Reads already recorded, per analyst, from an hour before their first statement in the batch.
    const since = new Map<string, Date>();
    if (rateLimit > 0) {
      for (const s of batch) {
        if (s.analyst === null) continue;
        const t = s.at.getTime() - HOUR_MS;
        if (!since.has(s.analyst) || t < since.get(s.analyst)!.getTime()) since.set(s.analyst, new Date(t));
      }
    }
    const grants = wantsGrantEnd ? [...new Map(batch.flatMap((s) => (s.request ? [[grantKey(s.request.requestId, s.request.dataset), s.request] as const] : []))).values()] : [];
    const [earlier, ends] = await Promise.all([recentReadTimes(db, since, rateLimit), grantEnds(db, grants)]);
    const seen = new Map<string, Date[]>();
    const out: AlertHit[][] = [];
    for (const s of batch) {
      let readsInHour: number | null = null;
      if (s.analyst !== null && rateLimit > 0) {
        const mine = seen.get(s.analyst) ?? [];
        mine.push(s.at);
        seen.set(s.analyst, mine);
        const from = s.at.getTime() - HOUR_MS;
        // Recorded events carry their ingestion time, never earlier than the statement itself.
        const before = (earlier.get(s.analyst) ?? []).filter((t) => t.getTime() > from).length;
        readsInHour = before + mine.filter((t) => t.getTime() > from && t <= s.at).length;
      }
      const grantEndsAt = wantsGrantEnd && s.request ? (ends.get(grantKey(s.request.requestId, s.request.dataset)) ?? null) : null;
      out.push(evaluateRules(rules, s, { readsInHour, grantEndsAt }));
    }
    return out;
  };
}
