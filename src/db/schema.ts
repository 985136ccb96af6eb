// The gate's own state (the control database). The warehouse is not described here: the gate only
// manages roles and grants there, it owns no tables.
import { sql } from 'drizzle-orm';
import { bigint, bigserial, index, integer, jsonb, pgTable, serial, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

export const analysts = pgTable('analysts', {
  id: serial('id').primaryKey(),
  username: text('username').notNull().unique(),
  subject: text('subject').notNull(),
  email: text('email'),
  roleName: text('role_name').notNull().unique(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  lastLoginAt: timestamp('last_login_at', { withTimezone: true }),
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

/** How far each log source (a PostgreSQL log file) has been ingested. */
export const ingestCursors = pgTable('ingest_cursors', {
  source: text('source').primaryKey(),
  position: bigint('position', { mode: 'number' }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
