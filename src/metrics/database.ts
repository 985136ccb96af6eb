// What the control database can answer at scrape time: the same on Node and on Workers, and the
// same whichever gate instance is scraped (it is the shared state, not one process's view).
//
// Counts by action come from the access log. It is append-only, so a count of its rows is a true
// counter (never goes down) across restarts and instances. Appends are serialized by the chain
// lock, so ids commit in order and counting only the rows past the last id seen never misses one:
// a scrape reads the new rows only.
import type pg from 'pg';
import type { MetricFamily, Sample } from './text.js';

/** Access-log actions that also get a metric of their own (the names operators look for). */
const NAMED_COUNTERS: ReadonlyArray<{ name: string; help: string; actions: string[] }> = [
  { name: 'fdwg_credentials_issued_total', help: 'Warehouse passwords issued (access log: credential.issued).', actions: ['credential.issued'] },
  { name: 'fdwg_credentials_revoked_total', help: 'Credentials revoked early (access log: credential.revoked).', actions: ['credential.revoked'] },
  { name: 'fdwg_credentials_expired_total', help: 'Credentials ended by the sweeper at expiry (access log: credential.expired).', actions: ['credential.expired'] },
  { name: 'fdwg_drift_found_total', help: 'Warehouse drift found by the reconciler (access log: drift.found).', actions: ['drift.found'] },
  { name: 'fdwg_reconcile_applied_total', help: 'Reconciler runs that changed the warehouse (access log: policy.applied).', actions: ['policy.applied'] },
  { name: 'fdwg_reconcile_skips_audited_total', help: 'Reconciler skips audited after several in a row (access log: reconcile.skipped).', actions: ['reconcile.skipped'] },
];

/** Per-process memory of the access log counted so far (one per control database). */
export class AuditTally {
  private lastId = 0;
  private readonly byAction = new Map<string, number>();
  private readonly lateByAction = new Map<string, number>();
  private pending: Promise<void> | null = null;

  /** Counts the rows appended since the last call (all of them the first time). */
  async refresh(pool: pg.Pool): Promise<void> {
    // Concurrent scrapes share one read, so the same rows are never counted twice.
    this.pending ??= this.read(pool).finally(() => {
      this.pending = null;
    });
    await this.pending;
  }

  private async read(pool: pg.Pool): Promise<void> {
    const { rows } = await pool.query<{ action: string; late: boolean; n: string; max_id: string }>(
      `SELECT action, coalesce(details->>'late' = 'true', false) AS late, count(*) AS n, max(id) AS max_id
         FROM audit_events WHERE id > $1 GROUP BY 1, 2`,
      [this.lastId],
    );
    for (const r of rows) {
      const n = Number(r.n);
      this.byAction.set(r.action, (this.byAction.get(r.action) ?? 0) + n);
      if (r.late) this.lateByAction.set(r.action, (this.lateByAction.get(r.action) ?? 0) + n);
      this.lastId = Math.max(this.lastId, Number(r.max_id));
    }
  }

  count(action: string): number {
    return this.byAction.get(action) ?? 0;
  }

  families(): MetricFamily[] {
    const sorted = (m: Map<string, number>): Sample[] => [...m].sort(([a], [b]) => a.localeCompare(b)).map(([action, value]) => ({ labels: { action }, value }));
    return [
      { name: 'fdwg_audit_events_total', help: 'Access-log events by action.', type: 'counter', samples: sorted(this.byAction) },
      {
        name: 'fdwg_late_expiries_total',
        help: 'Expiries the sweepers handled more than 2 minutes after they came due (the gate was down or behind), by access-log action.',
        type: 'counter',
        samples: sorted(this.lateByAction),
      },
      ...NAMED_COUNTERS.map((c): MetricFamily => ({
        name: c.name,
        help: c.help,
        type: 'counter',
        samples: [{ value: c.actions.reduce((n, a) => n + this.count(a), 0) }],
      })),
    ];
  }
}

interface StateRow {
  credentials_live: string;
  lease_lag: number;
  grants_live: string;
  grant_lag: number;
  requests_pending_lag: number;
  outbox_depth: string;
  outbox_oldest: number;
  outbox_failed: string;
  outbox_failed_attempts: string;
  chain_head: string | null;
  chain_head_at: number | null;
  pgaudit_cursor_age: number | null;
  requests: Record<string, number> | null;
}

const PII_STATES = ['pending', 'approved', 'denied', 'withdrawn', 'expired'] as const;

/** One round trip; each part uses an index of its table, except the small pii_requests and outbox counts. */
const STATE_SQL = `SELECT
  (SELECT count(*) FROM credentials WHERE revoked_at IS NULL AND expires_at > now()) AS credentials_live,
  (SELECT coalesce(extract(epoch FROM now() - min(expires_at)), 0)::float8 FROM credentials WHERE revoked_at IS NULL AND expires_at <= now()) AS lease_lag,
  (SELECT count(*) FROM pii_grants WHERE ended_at IS NULL AND expires_at > now()) AS grants_live,
  (SELECT coalesce(extract(epoch FROM now() - min(expires_at)), 0)::float8 FROM pii_grants WHERE ended_at IS NULL AND expires_at <= now()) AS grant_lag,
  (SELECT coalesce(extract(epoch FROM now() - min(review_deadline)), 0)::float8 FROM pii_requests WHERE state = 'pending' AND review_deadline <= now()) AS requests_pending_lag,
  (SELECT count(*) FROM webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL) AS outbox_depth,
  (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL) AS outbox_oldest,
  (SELECT count(*) FROM webhook_outbox WHERE failed_at IS NOT NULL) AS outbox_failed,
  (SELECT coalesce(sum(CASE WHEN delivered_at IS NULL THEN attempts ELSE attempts - 1 END), 0) FROM webhook_outbox) AS outbox_failed_attempts,
  (SELECT max(id) FROM audit_events) AS chain_head,
  (SELECT extract(epoch FROM at::timestamptz)::float8 FROM audit_events ORDER BY id DESC LIMIT 1) AS chain_head_at,
  (SELECT extract(epoch FROM now() - max(updated_at))::float8 FROM ingest_cursors) AS pgaudit_cursor_age,
  (SELECT json_object_agg(state, n) FROM (SELECT state, count(*)::int AS n FROM pii_requests GROUP BY state) s) AS requests`;

const gauge = (name: string, help: string, value: number, labels?: Record<string, string>): MetricFamily => ({
  name,
  help,
  type: 'gauge',
  samples: [{ value, ...(labels ? { labels } : {}) }],
});

/** The gate's state now: live credentials and grants, PII requests by state, sweeper lag, outbox, chain head. */
export async function readState(pool: pg.Pool): Promise<MetricFamily[]> {
  const { rows } = await pool.query<StateRow>(STATE_SQL);
  const r = rows[0]!;
  const requests = r.requests ?? {};
  const families: MetricFamily[] = [
    gauge('fdwg_credentials_live', 'Credentials that can log in now (not revoked, not expired).', Number(r.credentials_live)),
    gauge('fdwg_pii_grants_live', 'PII dataset grants in force now.', Number(r.grants_live)),
    {
      name: 'fdwg_pii_requests',
      help: 'PII requests by state.',
      type: 'gauge',
      samples: PII_STATES.map((state) => ({ labels: { state }, value: requests[state] ?? 0 })),
    },
    {
      name: 'fdwg_sweep_lag_seconds',
      help: 'How long the oldest item past its end has been waiting for the sweeper (0: nothing overdue).',
      type: 'gauge',
      samples: [
        { labels: { sweeper: 'leases' }, value: r.lease_lag },
        { labels: { sweeper: 'grants' }, value: r.grant_lag },
        { labels: { sweeper: 'requests' }, value: r.requests_pending_lag },
      ],
    },
    gauge('fdwg_webhook_outbox_depth', 'Notifications waiting for delivery (neither delivered nor given up).', Number(r.outbox_depth)),
    gauge('fdwg_webhook_outbox_oldest_seconds', 'Age of the oldest notification waiting for delivery (0: none).', r.outbox_oldest),
    gauge('fdwg_webhook_given_up', 'Notifications given up after their last attempt (still in the outbox).', Number(r.outbox_failed)),
    gauge('fdwg_webhook_failed_attempts', 'Failed delivery attempts of the notifications in the outbox.', Number(r.outbox_failed_attempts)),
    gauge('fdwg_audit_chain_head_id', 'Id of the newest access-log event (the chain head).', Number(r.chain_head ?? 0)),
    gauge('fdwg_audit_chain_head_timestamp_seconds', 'When the newest access-log event was written (Unix seconds; 0: empty log).', r.chain_head_at ?? 0),
  ];
  if (r.pgaudit_cursor_age !== null) {
    families.push(gauge('fdwg_pgaudit_cursor_age_seconds', 'Seconds since a pgaudit log cursor last moved (PII reads ingested).', r.pgaudit_cursor_age));
  }
  return families;
}

/** Everything the database answers: state gauges and access-log counters. */
export async function readDatabaseMetrics(pool: pg.Pool, tally: AuditTally): Promise<MetricFamily[]> {
  const [state] = await Promise.all([readState(pool), tally.refresh(pool)]);
  return [...state, ...tally.families()];
}
