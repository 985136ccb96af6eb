// Refused attempts on the record. Nothing changed, yet auditors need every refusal of a recorded
// action (src/access/rules.ts), by the guard or by an object's rule (src/access/objects.ts, applied
// by the services): each one is counted in `access_denials` (person, action, minute),
// and the first of each minute is an `access.denied` event on the hash chain, in the same
// transaction. Later refusals in that minute only add to the count, so one person hammering one
// route writes at most one event a minute, and no chained row is ever updated.
import { appendAudit } from '../audit/log.js';
import type { ControlDb } from '../db/client.js';
import { countRefusal, linkRefusalEvent, requestExists } from './dal.js';
import type { Action, RefusalCode } from './rules.js';

/** Where a refused attempt came in: the guard always knows; a service knows when its caller says. */
export interface DenialRoute {
  method: string;
  /** The route as declared (`/api/requests/:id/reviews`), not the path as sent. */
  route: string;
  /** The HTTP request id (the X-Request-Id the client got). */
  httpRequestId?: string;
}

export interface Denial extends Partial<DenialRoute> {
  /** Who was refused (a username: the signed-out get a 401, which is not recorded). */
  actor: string;
  action: Action;
  /** The answer's error code: the guard's, or an object rule's (a second vote is a 409 conflict). */
  code: RefusalCode | 'conflict';
  reason: string;
  /** The PII request the route's path names, if any (on the event's request column when it exists). */
  requestId?: number;
  /** The PII grant the route's path names, if any. */
  grantId?: number;
}

export interface Recorded {
  /** The chained event of this minute's first refusal. */
  eventId: number;
  /** Refusals of this person and action in this minute so far, this one included. */
  count: number;
  /** Whether this refusal wrote the event (the minute's first). */
  appended: boolean;
}

export class DenialLog {
  constructor(private readonly db: ControlDb) {}

  /** Records one refusal in its own transaction (the request it refuses changes nothing). */
  async record(d: Denial): Promise<Recorded> {
    return this.db.transaction(async (tx) => {
      // The row lock taken here makes a concurrent refusal of the same minute wait for this
      // commit, then count: exactly one event per person, action and minute.
      const row = await countRefusal(tx, d.actor, d.action);
      if (row.eventId !== null) return { eventId: row.eventId, count: row.count, appended: false };
      // The request column links the event to the request's history only when there is such a
      // request: an id that names nothing (yet) stays in the details.
      const known = d.requestId === undefined ? false : await requestExists(tx, d.requestId);
      const eventId = await appendAudit(tx, {
        action: 'access.denied',
        actor: d.actor,
        subject: d.actor,
        requestId: known ? d.requestId : null,
        details: {
          attempted: d.action,
          ...(d.method && d.route ? { route: `${d.method} ${d.route}` } : {}),
          code: d.code,
          reason: d.reason,
          minute: row.minute,
          ...(d.requestId !== undefined ? { requestId: d.requestId } : {}),
          ...(d.grantId !== undefined ? { grantId: d.grantId } : {}),
          ...(d.httpRequestId ? { httpRequestId: d.httpRequestId } : {}),
        },
      });
      await linkRefusalEvent(tx, d.actor, d.action, eventId);
      return { eventId, count: 1, appended: true };
    });
  }
}
