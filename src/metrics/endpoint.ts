// GET /metrics: Prometheus text behind a bearer token (METRICS_TOKEN). Registered before the
// gate's own credentials are read, like /healthz: the token is the scraper's, not a person's gate
// token. Without a configured token the endpoint refuses everyone (fail closed).
import type { Context } from 'hono';
import type pg from 'pg';
import { AppError } from '../errors.js';
import { AuditTally, readDatabaseMetrics } from './database.js';
import { PROMETHEUS_CONTENT_TYPE, renderFamilies } from './text.js';

/** What a scrape answers: Node's registry plus the database, or (Workers) the database only. */
export interface MetricsSource {
  scrape(pool: pg.Pool): Promise<string>;
  readonly contentType: string;
}

/** The database's metrics only: Workers, where an isolate's own counters mean nothing. */
export function databaseMetrics(): MetricsSource {
  const tally = new AuditTally();
  return {
    contentType: PROMETHEUS_CONTENT_TYPE,
    scrape: async (pool) => renderFamilies(await readDatabaseMetrics(pool, tally)),
  };
}

const encoder = new TextEncoder();

/** Equal in time independent of where they differ (both digested first, so lengths leak nothing). */
async function sameSecret(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([given, expected].map(async (s) => new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(s)))));
  let diff = 0;
  for (let i = 0; i < a!.length; i++) diff |= a![i]! ^ b![i]!;
  return diff === 0;
}

export const METRICS_REFUSAL = 'Send "Authorization: Bearer <METRICS_TOKEN>" (the scraper\'s token; metrics are off while METRICS_TOKEN is unset).';

/** Throws 401 unless the request carries the metrics token. */
export async function requireMetricsToken(c: Context, token: string | undefined): Promise<void> {
  const given = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
  if (!token || !given || !(await sameSecret(given, token))) throw new AppError('unauthenticated', METRICS_REFUSAL);
}
