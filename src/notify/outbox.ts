// Webhook notifications are queued in the control database inside the transaction of the change
// they announce (the transactional outbox): a notification exists exactly when its change commits,
// and delivery happens afterwards (src/notify/dispatcher.ts), so a slow or failing receiver never
// blocks or loses a decision.
//
// notify() queues whether or not a webhook is configured. Callers then need no configuration (the
// signature stays `notify(tx, n)`), and nothing is lost if a webhook is configured later; the
// dispatcher gives up on notifications older than its `maxAgeMs` (default 24 h) without sending
// them, so switching a webhook on does not flood a room with a stale backlog.
import type { ControlTx } from '../db/client.js';
import { utcMinutes } from '../time.js';
import { insertOutboxRows } from './dal.js';

export const notificationEvents = ['request.created', 'request.decided', 'grant.expiring_soon', 'access.ended', 'alert.raised'] as const;
export type NotificationEvent = 'request.created' | 'request.decided' | 'grant.expiring_soon' | 'access.ended' | 'alert.raised';

export interface Notification {
  event: NotificationEvent;
  requestId: number;
  /** Username of the analyst the request belongs to. */
  analyst: string;
  datasets: string[];
  /** One human-readable line, posted as is to a Matrix room (see requestText). */
  text: string;
  /** Extra machine-readable fields (state, decidedBy, expiresAt...). Never a password or a PII value. */
  details?: Record<string, unknown>;
}

/** The JSON body the receiver gets (the outbox row's payload). */
export interface NotificationBody {
  /** The outbox row id, also sent as X-FDWG-Delivery: receivers dedupe on it. */
  id: number;
  event: NotificationEvent;
  /** When the change was queued (ISO 8601, UTC); a retry keeps the same value. */
  timestamp: string;
  requestId: number;
  analyst: string;
  datasets: string[];
  text: string;
  details: Record<string, unknown>;
}

// A last line of defence: payloads leave the gate, so a field that looks like a credential is a bug.
const SECRET_LOOKING_KEY = /password|passwd|secret|token|verifier/i;

function refuseSecrets(value: unknown, path: string): void {
  if (Array.isArray(value)) value.forEach((v, i) => refuseSecrets(v, `${path}[${i}]`));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (SECRET_LOOKING_KEY.test(k)) throw new Error(`notification ${path}.${k}: secret-looking fields are never sent`);
      refuseSecrets(v, `${path}.${k}`);
    }
  }
}

/**
 * Queues one webhook notification inside the caller's transaction: it is delivered if and only if
 * that transaction commits. Cheap (one INSERT); call it next to appendAudit.
 */
export function notify(tx: ControlTx, n: Notification): Promise<void> {
  return notifyMany(tx, [n]);
}

/** notify for many at once (a sweep ending a thousand grants): one INSERT, rows in the given order. */
export async function notifyMany(tx: ControlTx, ns: Notification[]): Promise<void> {
  if (ns.length === 0) return;
  const timestamp = new Date().toISOString();
  const bodies = ns.map((n) => {
    if (!(notificationEvents as readonly string[]).includes(n.event)) throw new Error(`unknown notification event ${n.event}`);
    if (!Number.isSafeInteger(n.requestId)) throw new Error('notification requestId must be an integer');
    const details = n.details ?? {};
    refuseSecrets(details, 'details');
    const body: Omit<NotificationBody, 'id'> = {
      event: n.event,
      timestamp,
      requestId: n.requestId,
      analyst: n.analyst,
      datasets: [...n.datasets],
      text: n.text,
      details,
    };
    return JSON.stringify(body);
  });
  // Each body carries its own row id, so body and header agree.
  await insertOutboxRows(tx, ns.map((n) => n.event), bodies);
}

// ---- The `text` line -------------------------------------------------------------------------

export type RequestTextFacts =
  | { event: 'request.created'; purpose: string; durationSeconds: number; reviewUrl?: string }
  | { event: 'request.decided'; decision: 'approved' | 'denied' | 'withdrawn' | 'expired'; decidedBy?: string; comment?: string | null }
  | { event: 'grant.expiring_soon'; expiresAt: Date }
  | { event: 'access.ended'; reason: string };

const MAX_QUOTED = 400;

// Free text from an analyst goes to a chat room: one line, bounded, and unable to ping the room.
function quoted(s: string): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  const short = flat.length > MAX_QUOTED ? `${flat.slice(0, MAX_QUOTED - 1)}…` : flat;
  return `"${short.replace(/@room/gi, '@\u200broom')}"`;
}

export function humanDuration(seconds: number): string {
  const units: Array<[number, string]> = [
    [86_400, 'day'],
    [3_600, 'hour'],
    [60, 'minute'],
  ];
  for (const [size, name] of units) {
    if (seconds >= size && seconds % size === 0) {
      const n = seconds / size;
      return `${n} ${name}${n === 1 ? '' : 's'}`;
    }
  }
  return seconds >= 3_600 ? `${Math.round(seconds / 3_600)} hours` : `${Math.max(1, Math.round(seconds / 60))} minutes`;
}


/**
 * The `text` field for the request events, so every caller words them the same way, e.g.
 * `[FDWG] alice requests PII access to users, emails for 7 days (request #12): "…". Review: https://…`
 */
export function requestText(r: { requestId: number; analyst: string; datasets: string[] }, facts: RequestTextFacts): string {
  const what = r.datasets.join(', ');
  const ref = `request #${r.requestId}`;
  switch (facts.event) {
    case 'request.created':
      return (
        `[FDWG] ${r.analyst} requests PII access to ${what} for ${humanDuration(facts.durationSeconds)} (${ref}): ${quoted(facts.purpose)}` +
        (facts.reviewUrl ? ` Review: ${facts.reviewUrl}` : '')
      );
    case 'request.decided': {
      const by = facts.decidedBy ? ` by ${facts.decidedBy}` : '';
      const why = facts.comment ? `: ${quoted(facts.comment)}` : '';
      const verb = facts.decision === 'expired' ? 'expired without a decision' : `was ${facts.decision}${by}`;
      return `[FDWG] ${r.analyst}'s ${ref} for ${what} ${verb}${why}.`;
    }
    case 'grant.expiring_soon':
      return `[FDWG] ${r.analyst}'s PII access to ${what} (${ref}) ends at ${utcMinutes(facts.expiresAt)}.`;
    case 'access.ended':
      return `[FDWG] ${r.analyst}'s PII access to ${what} (${ref}) has ended (${facts.reason}).`;
  }
}
