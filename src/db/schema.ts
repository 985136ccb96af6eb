// The gate's own state (the control database). The warehouse is not described here: the gate only
// manages roles and grants there, it owns no tables.
import { sql } from 'drizzle-orm';
import { bigint, bigserial, check, index, integer, jsonb, pgTable, primaryKey, serial, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

export const analysts = pgTable('analysts', {
  id: serial('id').primaryKey(),
  username: text('username').notNull().unique(),
  subject: text('subject').notNull(),
  email: text('email'),
  roleName: text('role_name').notNull().unique(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  /** The latest sign-in, member or not any more. */
  lastLoginAt: timestamp('last_login_at', { withTimezone: true }),
  /**
   * The groups the issuer gave at that sign-in (or at a later refresh that changed them): what
   * "still an FDWG member" means for someone who is not asking, e.g. a requester being approved.
   */
  lastGroups: jsonb('last_groups').$type<string[]>(),
});

export const agreementAcceptances = pgTable(
  'agreement_acceptances',
  {
    id: serial('id').primaryKey(),
    analystId: integer('analyst_id')
      .notNull()
      .references(() => analysts.id),
    version: text('version').notNull(),
    acceptedAt: timestamp('accepted_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('agreement_acceptances_analyst_version').on(t.analystId, t.version)],
);

/** Lease metadata of issued passwords. The password itself is never stored anywhere. */
export const credentials = pgTable(
  'credentials',
  {
    id: serial('id').primaryKey(),
    analystId: integer('analyst_id')
      .notNull()
      .references(() => analysts.id),
    roleName: text('role_name').notNull(),
    issuedAt: timestamp('issued_at', { withTimezone: true }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    revokedReason: text('revoked_reason'),
  },
  (t) => [
    index('credentials_live').on(t.expiresAt).where(sql`revoked_at IS NULL`),
    index('credentials_analyst').on(t.analystId, t.issuedAt),
  ],
);

/**
 * Append-only, hash-chained log of everything the gate does. `hash` is SHA-256 over the row's
 * canonical form including `prev_hash`, so editing or deleting any row breaks the chain after it.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: timestamp('at', { withTimezone: true, mode: 'string' }).notNull(),
    actor: text('actor').notNull(),
    subject: text('subject'),
    action: text('action').notNull(),
    requestId: integer('request_id'),
    dataset: text('dataset'),
    details: jsonb('details').notNull().default({}),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [
    index('audit_events_subject').on(t.subject, t.id),
    index('audit_events_action').on(t.action, t.id),
    index('audit_events_actor').on(t.actor, t.id),
    index('audit_events_dataset').on(t.dataset, t.id),
    index('audit_events_request').on(t.requestId, t.id),
    // `at` grows with `id` up to clock skew between writers, so a time range maps to an id range
    // (see AT_SKEW_MS in src/audit/filters.ts).
    index('audit_events_at').on(t.at),
  ],
);

/**
 * Refused attempts, coalesced: one row per person, action and minute, counting the refusals. The
 * first refusal of each minute is also an `access.denied` event on the chain (`event_id`); later
 * ones in that minute only count here, so hammering a route cannot flood the log, and the chain
 * is never touched again (it stays append-only).
 */
export const accessDenials = pgTable(
  'access_denials',
  {
    actor: text('actor').notNull(),
    /** The action refused (src/access/rules.ts), not an audit action. */
    action: text('action').notNull(),
    minute: timestamp('minute', { withTimezone: true, mode: 'string' }).notNull(),
    count: integer('count').notNull().default(1),
    lastAt: timestamp('last_at', { withTimezone: true, mode: 'string' }).notNull(),
    eventId: bigint('event_id', { mode: 'number' }).references(() => auditEvents.id),
  },
  (t) => [primaryKey({ columns: [t.actor, t.action, t.minute] }), uniqueIndex('access_denials_event').on(t.eventId)],
);

/**
 * Statement text of PII reads, kept apart from the chained event (which stores only its SHA-256),
 * so that retention can blank the text without breaking the chain.
 */
export const piiReadStatements = pgTable('pii_read_statements', {
  eventId: bigint('event_id', { mode: 'number' })
    .primaryKey()
    .references(() => auditEvents.id),
  statement: text('statement'),
  statementSha256: text('statement_sha256').notNull(),
  prunedAt: timestamp('pruned_at', { withTimezone: true }),
});

/**
 * Derived from audit_events (migration 0012; rebuildable with pii_read_rollup_rebuild()): pii.read
 * totals per day and month, login role, analyst ('' when none) and set of tables, kept by the
 * pgaudit ingestion in its transaction, for the data-subject report. Not evidence.
 */
export const piiReadRollup = pgTable(
  'pii_read_rollup',
  {
    span: text('span').notNull(),
    bucket: timestamp('bucket', { withTimezone: true }).notNull(),
    role: text('role').notNull(),
    analyst: text('analyst').notNull(),
    tables: text('tables').array().notNull(),
    reads: integer('reads').notNull(),
    outside: integer('outside').notNull(),
    firstAt: timestamp('first_at', { withTimezone: true }).notNull(),
    lastAt: timestamp('last_at', { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.span, t.bucket, t.role, t.analyst, t.tables] }), check('pii_read_rollup_span', sql`${t.span} IN ('day', 'month')`)],
);

/** Derived likewise: the first and last read under each request, per reader and set of tables. */
export const piiReadRequestSpans = pgTable(
  'pii_read_request_spans',
  {
    requestId: integer('request_id').notNull(),
    role: text('role').notNull(),
    analyst: text('analyst').notNull(),
    tables: text('tables').array().notNull(),
    firstAt: timestamp('first_at', { withTimezone: true }).notNull(),
    lastAt: timestamp('last_at', { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.requestId, t.role, t.analyst, t.tables] })],
);

/** How far each log source (a PostgreSQL log file) has been ingested. */
export const ingestCursors = pgTable('ingest_cursors', {
  source: text('source').primaryKey(),
  position: bigint('position', { mode: 'number' }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * A request for PII datasets. States: pending -> approved | denied | withdrawn | expired (nobody
 * decided within the review window). An approved request's access lives in `pii_grants`.
 */
export const piiRequests = pgTable(
  'pii_requests',
  {
    id: serial('id').primaryKey(),
    analystId: integer('analyst_id')
      .notNull()
      .references(() => analysts.id),
    datasets: text('datasets').array().notNull(),
    purpose: text('purpose').notNull(),
    durationSeconds: integer('duration_seconds').notNull(),
    state: text('state').notNull().default('pending'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    reviewDeadline: timestamp('review_deadline', { withTimezone: true }).notNull(),
    /** Approvals the request needs: the largest `approvals_required` among its datasets. */
    approvalsRequired: integer('approvals_required').notNull(),
    decidedAt: timestamp('decided_at', { withTimezone: true }),
    /** Who made the final decision (the last approver, the denier) or `system:<component>`. */
    decidedBy: text('decided_by'),
    decisionComment: text('decision_comment'),
  },
  (t) => [
    check('pii_requests_state', sql`${t.state} IN ('pending', 'approved', 'denied', 'withdrawn', 'expired')`),
    index('pii_requests_pending').on(t.reviewDeadline).where(sql`state = 'pending'`),
    index('pii_requests_analyst').on(t.analystId, t.createdAt),
  ],
);

/** One approver's vote on a request; one per approver, so N approvals are N distinct people. */
export const piiRequestReviews = pgTable(
  'pii_request_reviews',
  {
    id: serial('id').primaryKey(),
    requestId: integer('request_id')
      .notNull()
      .references(() => piiRequests.id),
    reviewer: text('reviewer').notNull(),
    decision: text('decision').notNull(),
    comment: text('comment'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('pii_request_reviews_one_each').on(t.requestId, t.reviewer),
    check('pii_request_reviews_decision', sql`${t.decision} IN ('approve', 'deny')`),
  ],
);

/**
 * Time-bounded membership of an analyst's role in a dataset's group role. Live while `ended_at`
 * is null; the sweeper ends it at `expires_at`. The reconciler treats live rows as the truth.
 */
export const piiGrants = pgTable(
  'pii_grants',
  {
    id: serial('id').primaryKey(),
    requestId: integer('request_id')
      .notNull()
      .references(() => piiRequests.id),
    analystId: integer('analyst_id')
      .notNull()
      .references(() => analysts.id),
    roleName: text('role_name').notNull(),
    dataset: text('dataset').notNull(),
    groupRole: text('group_role').notNull(),
    startsAt: timestamp('starts_at', { withTimezone: true }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    /** When "expiring soon" was notified, so it is sent once. */
    warnedAt: timestamp('warned_at', { withTimezone: true }),
    endedAt: timestamp('ended_at', { withTimezone: true }),
    /** expired | relinquished | revoked | left_group */
    endReason: text('end_reason'),
    endedBy: text('ended_by'),
  },
  (t) => [
    // At most one live grant per analyst and dataset: racing approvals cannot make two.
    uniqueIndex('pii_grants_one_live').on(t.analystId, t.dataset).where(sql`ended_at IS NULL`),
    uniqueIndex('pii_grants_request_dataset').on(t.requestId, t.dataset),
    index('pii_grants_live').on(t.expiresAt).where(sql`ended_at IS NULL`),
    index('pii_grants_role').on(t.roleName, t.startsAt),
  ],
);

/**
 * Webhook notifications waiting to be delivered. Written in the same transaction as the change
 * they announce, delivered afterwards with retries, so a failing receiver never blocks or loses
 * a decision.
 */
export const webhookOutbox = pgTable(
  'webhook_outbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    event: text('event').notNull(),
    payload: jsonb('payload').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
    /** Gave up after the last retry. */
    failedAt: timestamp('failed_at', { withTimezone: true }),
    lastError: text('last_error'),
  },
  (t) => [index('webhook_outbox_due').on(t.nextAttemptAt).where(sql`delivered_at IS NULL AND failed_at IS NULL`)],
);

/**
 * Gate sign-in sessions (issue 10). The browser holds only a random token; this row, keyed by the
 * token's SHA-256, holds who signed in, what the issuer last said (groups) and the issuer's refresh
 * token (AES-GCM encrypted with a key derived from SESSION_SECRET). Every request checks the row,
 * so ending it (sign-out, leaving the FDWG, an admin) ends a saved copy of the cookie at once.
 */
export const gateSessions = pgTable(
  'gate_sessions',
  {
    id: text('id').primaryKey(),
    username: text('username').notNull(),
    subject: text('subject').notNull(),
    email: text('email'),
    name: text('name'),
    groups: jsonb('groups').$type<string[]>().notNull(),
    refreshToken: text('refresh_token'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    refreshDueAt: timestamp('refresh_due_at', { withTimezone: true }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    endedAt: timestamp('ended_at', { withTimezone: true }),
    endedReason: text('ended_reason'),
    /** 'browser' (cookie) or 'token' (a gate-minted bearer token; its row id is the token's jti). */
    kind: text('kind').notNull().default('browser'),
    /** A token's browser session: signing out there ends the tokens minted through it. */
    parentId: text('parent_id'),
    /** What a token was minted for ("fdwg on laptop"), shown to its owner and in the log. */
    clientName: text('client_name'),
    /** Wrong device codes typed in this session, counted per 10 minutes (brute-force limit). */
    codeFailures: integer('code_failures').notNull().default(0),
    codeFailuresSince: timestamp('code_failures_since', { withTimezone: true }),
  },
  (t) => [
    index('gate_sessions_live_user').on(t.username).where(sql`ended_at IS NULL`),
    index('gate_sessions_live_parent').on(t.parentId).where(sql`ended_at IS NULL`),
  ],
);

/** Keys that sign gate tokens (ES256). The private JWK is sealed under SESSION_SECRET's key. */
export const tokenSigningKeys = pgTable('token_signing_keys', {
  kid: text('kid').primaryKey(),
  publicJwk: jsonb('public_jwk').$type<Record<string, unknown>>().notNull(),
  privateJwk: text('private_jwk').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  /** Set when a newer key takes over: verifies tokens until then, signs none. */
  retireAt: timestamp('retire_at', { withTimezone: true }),
});

/**
 * CLI sign-ins in progress: a loopback code (RFC 8252, bound to a PKCE challenge) or a device code
 * with its short user code. Rows are keyed by the SHA-256 of the secret code; single use.
 */
export const cliLogins = pgTable(
  'cli_logins',
  {
    id: text('id').primaryKey(),
    kind: text('kind').notNull(),
    userCode: text('user_code'),
    codeChallenge: text('code_challenge'),
    redirectUri: text('redirect_uri'),
    clientName: text('client_name'),
    /** pending, approved, denied, used. */
    status: text('status').notNull().default('pending'),
    /** The browser session that confirmed it; the token copies its identity. */
    sessionId: text('session_id'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    lastPollAt: timestamp('last_poll_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('cli_logins_user_code').on(t.userCode).where(sql`status = 'pending'`), index('cli_logins_created').on(t.createdAt)],
);
