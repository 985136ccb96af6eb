// Node's in-process metrics (prom-client): HTTP requests and latency by route and status, and the
// background runs (sweepers, reconciler, webhook delivery, pgaudit ingestion, anchoring) by
// outcome. What the database answers is appended at scrape time (./database.ts), so one scrape
// shows both. Each gate instance has its own registry; Prometheus sums over instances.
import { stat } from 'node:fs/promises';
import type pg from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { AuditTally, readDatabaseMetrics } from './database.js';
import type { MetricsSource } from './endpoint.js';
import { type MetricFamily, renderFamilies } from './text.js';

export type RunOutcome = 'ok' | 'failed';

export interface GateMetrics extends MetricsSource {
  /** One answered request: `route` is the matched route pattern (bounded), never the raw path. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** One finished background run of `job`. */
  observeRun(job: string, outcome: RunOutcome, seconds: number): void;
  /** What a reconciler run found: skipped (lock held elsewhere), changes applied and left pending. */
  observeReconcile(r: { skipped: boolean; applied: number; pending: number }): void;
}

export interface NodeMetricsOptions {
  /** The anchor file (Node's signed anchors of the access log): its age is scraped. */
  anchorFile?: string;
  /** Also export prom-client's process and Node runtime metrics (heap, event loop lag, fds). */
  defaultMetrics?: boolean;
}

// Latency buckets for a gate whose requests are mostly one or two database round trips.
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createNodeMetrics(o: NodeMetricsOptions = {}): GateMetrics {
  const registry = new Registry();
  if (o.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'fdwg_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'fdwg_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: BUCKETS,
    registers: [registry],
  });
  const runs = new Counter({
    name: 'fdwg_background_runs_total',
    help: 'Background runs of this instance by job (sweep, reconcile, webhook, pgaudit, anchor) and outcome.',
    labelNames: ['job', 'outcome'] as const,
    registers: [registry],
  });
  const runSeconds = new Histogram({
    name: 'fdwg_background_run_duration_seconds',
    help: 'Duration of background runs by job.',
    labelNames: ['job'] as const,
    buckets: BUCKETS,
    registers: [registry],
  });
  const lastOk = new Gauge({
    name: 'fdwg_background_last_success_timestamp_seconds',
    help: 'When a background job last finished without error (Unix seconds). now() minus this is its lag; for pgaudit, the ingestion lag.',
    labelNames: ['job'] as const,
    registers: [registry],
  });
  const reconcileRuns = new Counter({
    name: 'fdwg_reconcile_runs_total',
    help: "This instance's scheduled reconciler runs: ran or skipped (another reconciler held the lock).",
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const reconcileChanges = new Counter({
    name: 'fdwg_reconcile_changes_total',
    help: 'Changes the scheduled reconciler applied, or left pending for a DBA run.',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const tally = new AuditTally();

  const anchorAge = async (): Promise<MetricFamily[]> => {
    if (!o.anchorFile) return [];
    const mtime = await stat(o.anchorFile).then((s) => s.mtimeMs, () => null);
    const help = 'Seconds since the last signed anchor of the access log was appended (-1: none yet).';
    return [{ name: 'fdwg_audit_anchor_age_seconds', help, type: 'gauge', samples: [{ value: mtime === null ? -1 : (Date.now() - mtime) / 1000 }] }];
  };

  return {
    contentType: registry.contentType,
    observeRequest(method, route, status, seconds) {
      const labels = { method, route, status: String(status) };
      requests.inc(labels);
      latency.observe(labels, seconds);
    },
    observeRun(job, outcome, seconds) {
      runs.inc({ job, outcome });
      runSeconds.observe({ job }, seconds);
      if (outcome === 'ok') lastOk.set({ job }, Date.now() / 1000);
    },
    observeReconcile(r) {
      reconcileRuns.inc({ result: r.skipped ? 'skipped' : 'ran' });
      if (r.applied) reconcileChanges.inc({ kind: 'applied' }, r.applied);
      if (r.pending) reconcileChanges.inc({ kind: 'pending' }, r.pending);
    },
    async scrape(pool) {
      const [local, db, anchor] = await Promise.all([registry.metrics(), readDatabaseMetrics(pool, tally), anchorAge()]);
      return `${local.endsWith('\n') ? local : `${local}\n`}${renderFamilies([...db, ...anchor])}`;
    },
  };
}
