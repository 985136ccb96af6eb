// What the /api routes answer, as JSON: documented in /openapi.json and checked against real
// answers by the API tests. Objects are strict, so a field the document does not describe fails those tests.
import { z } from '@hono/zod-openapi';

/** An instant as JSON: ISO-8601 UTC with milliseconds. */
const instant = z.iso.datetime().openapi({ example: '2026-01-31T12:00:00.000Z' });
const id = z.number().int().positive();

// --- Account ---------------------------------------------------------------------------------------

const standing = z
  .strictObject({
    member: z.boolean().openapi({ description: 'In an FDWG member group.' }),
    approver: z.boolean().openapi({ description: 'May decide PII requests (never an auditor).' }),
    auditor: z.boolean().openapi({ description: 'May read the access log.' }),
    admin: z.boolean(),
  })
  .openapi('Standing', { description: 'What the policy lets this identity do, from its groups.' });

export const meResponse = z
  .strictObject({
    username: z.string(),
    email: z.string().nullable(),
    groups: z.array(z.string()),
    standing,
    agreement: z.strictObject({
      version: z.string().openapi({ description: 'The current data-use agreement.' }),
      title: z.string(),
      accepted: z.boolean(),
      acceptedAt: instant.nullable(),
    }),
    admitted: z.boolean().openapi({ description: 'A member who accepted the current agreement: may get credentials.' }),
    role: z.string().nullable().openapi({ description: 'Your warehouse login role, once you are a member.' }),
    credential: z
      .strictObject({ id, issuedAt: instant, expiresAt: instant })
      .nullable()
      .openapi({ description: 'The live credential lease, if any (its password is never shown again).' }),
    policy: z.strictObject({
      ttlDefault: z.number().int().openapi({ description: 'Credential lifetime when none is asked for, in seconds.' }),
      ttlMax: z.number().int().openapi({ description: 'Longest credential lifetime, in seconds.' }),
    }),
  })
  .openapi('Me');

export const agreementResponse = z.strictObject({ accepted: z.literal(true), version: z.string() }).openapi('AgreementAccepted');

export const issuedCredential = z
  .strictObject({
    id,
    role: z.string().openapi({ description: 'The login role (`user` of the connection).' }),
    password: z.string().openapi({ description: 'In this answer only: the gate never stores it.' }),
    issuedAt: instant,
    expiresAt: instant,
    ttlSeconds: z.number().int(),
    capped: z.boolean().openapi({ description: 'The lifetime asked for was above the policy maximum and was cut to it.' }),
    connection: z
      .strictObject({
        host: z.string(),
        port: z.number().int(),
        database: z.string(),
        psql: z.string().openapi({ description: 'A psql command (no password in it: psql reads ~/.pgpass or asks).' }),
        uri: z.string().openapi({ description: 'A postgresql:// URI, password included.' }),
        pgpass: z.string().openapi({ description: 'One ~/.pgpass line.' }),
        serviceName: z.string(),
        pgService: z.string().openapi({ description: 'A ~/.pg_service.conf section.' }),
      })
      .openapi({ description: 'Where and how to connect, ready to paste.' }),
  })
  .openapi('IssuedCredential');

export const revokeResult = z
  .strictObject({
    sessionsEnded: z.number().int().openapi({ description: 'Live warehouse sessions terminated.' }),
    leasesRevoked: z.number().int(),
    piiGrantsEnded: z.number().int().optional().openapi({ description: 'Live PII grants ended (only when leaving the FDWG).' }),
  })
  .openapi('RevokeResult');

// --- PII requests ------------------------------------------------------------------------------------

export const datasetsResponse = z
  .strictObject({
    datasets: z.array(
      z.strictObject({
        name: z.string(),
        description: z.string(),
        tables: z.array(z.string()).openapi({ description: 'Schema-qualified tables the dataset opens.' }),
        maxDurationSeconds: z.number().int().openapi({ description: 'The longest access that may be asked for.' }),
        approvalsRequired: z.number().int().openapi({ description: 'Distinct approvers needed.' }),
        minPurposeLength: z.number().int().openapi({ description: 'Shortest purpose accepted, in characters.' }),
      }),
    ),
    reviewWindowSeconds: z.number().int().openapi({ description: 'A request nobody decides within this expires.' }),
  })
  .openapi('Datasets');

const review = z.strictObject({
  reviewer: z.string(),
  decision: z.enum(['approve', 'deny']),
  comment: z.string().nullable(),
  at: instant,
});

export const grantView = z
  .strictObject({
    id,
    requestId: id,
    analyst: z.string(),
    dataset: z.string(),
    startsAt: instant,
    expiresAt: instant,
    endedAt: instant.nullable(),
    endReason: z.string().nullable().openapi({ description: 'Why it ended (`expired`, `relinquished`, `revoked`, `left_group`); null while live.' }),
    endedBy: z.string().nullable(),
    live: z.boolean(),
  })
  .openapi('Grant', { description: 'Access to one dataset for the approved window.' });

const requestFields = {
  id,
  analyst: z.string(),
  datasets: z.array(z.string()),
  purpose: z.string(),
  durationSeconds: z.number().int(),
  state: z.enum(['pending', 'approved', 'denied', 'withdrawn', 'expired']),
  createdAt: instant,
  reviewDeadline: instant.openapi({ description: 'A pending request expires at this time.' }),
  approvalsRequired: z.number().int(),
  approvals: z.number().int().openapi({ description: 'Distinct approvers who approved so far.' }),
  reviews: z.array(review),
  decidedAt: instant.nullable(),
  decidedBy: z.string().nullable(),
  decisionComment: z.string().nullable(),
  grants: z.array(grantView),
};

export const requestView = z.strictObject(requestFields).openapi('PiiRequest');

export const myRequests = z.strictObject({ requests: z.array(requestView).openapi({ description: 'Newest first.' }) }).openapi('MyRequests');

export const decisionResult = z
  .strictObject({
    request: requestView,
    final: z.boolean().openapi({ description: 'This vote decided the request (granted or denied).' }),
  })
  .openapi('Decision');

export const approvalsResponse = z
  .strictObject({
    pending: z.array(
      z
        .strictObject({
          ...requestFields,
          decidable: z.boolean().openapi({ description: 'You may vote on it (not your own, not voted yet).' }),
          whyNot: z.string().optional(),
          history: z.array(requestView).openapi({ description: "The requester's other requests, newest first." }),
        })
        .openapi('QueueItem'),
    ),
    liveGrants: z.array(grantView),
  })
  .openapi('Approvals');

// --- Access log --------------------------------------------------------------------------------------

export const auditRecord = z
  .strictObject({
    id,
    at: instant.openapi({ description: 'Exactly as hashed into the chain.' }),
    actor: z.string().openapi({ description: 'Who caused it: a username or `system:<component>`.' }),
    subject: z.string().nullable().openapi({ description: 'The analyst it is about.' }),
    action: z.string().openapi({ description: 'e.g. `credential.issued`, `pii.granted`, `pii.read`.' }),
    requestId: z.number().int().nullable(),
    dataset: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    prevHash: z.string(),
    hash: z.string(),
  })
  .openapi('AuditEvent');

export const eventPage = z
  .strictObject({
    events: z.array(auditRecord).openapi({ description: 'Newest first.' }),
    nextCursor: z.string().nullable().openapi({ description: 'Pass as `cursor` for the next (older) page; null on the last page.' }),
  })
  .openapi('AuditEventPage');

export const eventDetailResponse = z
  .strictObject({
    event: auditRecord,
    statement: z
      .strictObject({
        text: z.string().nullable().openapi({ description: 'null once retention pruned it.' }),
        sha256: z.string(),
        pruned: z.boolean(),
        prunedAt: instant.nullable(),
      })
      .nullable()
      .openapi({ description: 'The SQL a `pii.read` event recorded; null for other events.' }),
    denials: z
      .strictObject({
        count: z.number().int().openapi({ description: 'Refusals of this person and action in the minute of the event, the recorded one included.' }),
        lastAt: instant,
      })
      .nullable()
      .openapi({
        description:
          'For an `access.denied` event: the refusals it stands for. Only the first refusal of a person, action and minute is an event; the count is kept beside the chain. null for other events.',
      }),
    previousId: z.number().int().nullable(),
    nextId: z.number().int().nullable(),
  })
  .openapi('AuditEventDetail');

export const chainStatusResponse = z
  .strictObject({
    ok: z.boolean(),
    checked: z.number().int().openapi({ description: 'Events examined, the broken one included.' }),
    headId: z.number().int().nullable().openapi({ description: 'The last event of the intact chain (or of its intact prefix).' }),
    headHash: z.string().nullable(),
    firstBroken: z
      .strictObject({ id, expected: z.string(), found: z.string(), reason: z.enum(['hash', 'link']) })
      .optional()
      .openapi({ description: 'The first broken link, when there is one.' }),
    seconds: z.number(),
    checkedAt: instant,
  })
  .openapi('ChainStatus');
