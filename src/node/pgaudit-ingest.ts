// Node runtime: ingests pgaudit's log into the access log on an interval and applies the
// statement-text retention, like the sweeper. Only started when PGAUDIT_LOG_DIR is configured
// (the Workers runtime has no log files to read).
import { pruneStatementText } from '../audit/pgaudit.js';
import { type FindRequestInForce, ingestPgauditLogs } from '../audit/pgaudit-ingest.js';
import { alertEvaluator } from '../alerts/evaluate.js';
import type { ControlDb } from '../db/client.js';
import type { AlertRule } from '../policy/schema.js';
import type { Logger } from '../log.js';
import { every } from './every.js';

export const PGAUDIT_INGEST_INTERVAL_MS = 15_000;
/** Pruning is cheap when there is nothing to prune; hourly keeps text at most an hour too long. */
export const STATEMENT_PRUNE_INTERVAL_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface PgauditIngestOptions {
  logDir: string;
  rolePrefix: string;
  retentionDays: number;
  findRequestInForce?: FindRequestInForce;
  /** The policy's `alerts:` rules, evaluated on every ingested statement. */
  alerts?: readonly AlertRule[];
  intervalMs?: number;
}

/** Runs ingestion now and on an interval; returns a stop function. */
export function startPgauditIngest(db: ControlDb, logger: Logger, o: PgauditIngestOptions): () => Promise<void> {
  let lastPrune = 0;
  const alerts = alertEvaluator(db, o.alerts ?? []);
  return every('pgaudit ingest', o.intervalMs ?? PGAUDIT_INGEST_INTERVAL_MS, logger, async () => {
    const r = await ingestPgauditLogs(db, {
      logDir: o.logDir,
      rolePrefix: o.rolePrefix,
      ...(o.findRequestInForce ? { findRequestInForce: o.findRequestInForce } : {}),
      alerts,
    });
    if (r.events > 0) logger.info('pgaudit ingest', { ...r });
    if (r.alerts > 0) logger.warn('PII read without an approved request in force', { alerts: r.alerts });
    if (r.raised) logger.warn('alert rules fired on PII reads', { raised: r.raised });
    if (Date.now() - lastPrune >= STATEMENT_PRUNE_INTERVAL_MS) {
      const pruned = await pruneStatementText(db, new Date(Date.now() - o.retentionDays * DAY_MS));
      lastPrune = Date.now();
      if (pruned > 0) logger.info('PII statement text pruned', { pruned, retentionDays: o.retentionDays });
    }
  });
}
