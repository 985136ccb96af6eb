// One batch of Datanommer messages (with their bridge rows) into the tiers: the rewrite of each
// message, new (user, period) pseudonyms into pseudonymized.users and pii.users, free text into
// pii.message_text, bridges mapped to the tier's user ids, unstorable bodies into the
// quarantine. One statement per batch (data-modifying CTEs), inside the caller's transaction.
import type { Pseudonymizer } from './keys.js';
import { type CompiledRules, rewriteMessage, type SourceRow, type TierRow, type TextRow } from './rewrite.js';
import {
  insertSql,
  LTREE_COLUMN,
  MESSAGE_SPEC,
  PACKAGE_BRIDGE_SPEC,
  PII_USER_SPEC,
  QUARANTINE_SPEC,
  type Queryable,
  type Spec,
  TEXT_SPEC,
  TIER_USER_SPEC,
  USER_BRIDGE_SPEC,
} from './rows.js';
import { LTREE_TOPIC } from './schema.js';

/** A users_messages or packages_messages row: `ref` is user_id or package_id. */
export interface Bridge {
  ref: number;
  msg_id: number;
  msg_timestamp: string;
}

export interface PipelineOptions {
  rules: CompiledRules;
  pseudonymizer: Pseudonymizer;
  /** Datanommer's users: id -> name, and name -> id. */
  userNames: Map<number, string>;
  userIds: Map<string, number>;
  /** Datanommer's package ids (a bridge naming another is an error: no foreign key catches it). */
  packageIds: ReadonlySet<number>;
  /** Every known username (the fail-closed check). */
  known: Set<string>;
  /** Where pseudonymized rows go: `pseudonymized`, or `pg_temp` for a top-off's staging. */
  pseudoSchema: string;
  /**
   * Where bridge rows go. A top-off writes them straight into the tier: they hold only ids and
   * timestamps (nothing for the leak guard to read), and staging them cost a second copy.
   */
  bridgeSchema: string;
  ltree: boolean;
  /** Top-off: free text only for messages the tier does not hold yet (a day loaded twice). */
  topoff: boolean;
  /** `${period}\0${username}` already in pii.users. */
  seen: Set<string>;
}

export interface BatchResult {
  published: number;
  quarantined: number;
}

/** The Fedora account's address: Datanommer keeps no e-mail, every account has this alias. */
const accountEmail = (username: string) => `${username}@fedoraproject.org`;

export function newUserRows(o: PipelineOptions, period: string, names: Iterable<string>, tierUsers: object[], piiUsers: object[]): void {
  for (const name of names) {
    const key = `${period}\0${name}`;
    if (o.seen.has(key)) continue;
    o.seen.add(key);
    const pseudonym = o.pseudonymizer.pseudonym(period, name);
    piiUsers.push({ pseudonym, username: name, email: accountEmail(name), period });
    const sourceId = o.userIds.get(name);
    if (sourceId !== undefined) tierUsers.push({ id: o.pseudonymizer.userId(period, name, sourceId), pseudonym, period });
  }
}

export async function processBatch(
  db: Queryable,
  o: PipelineOptions,
  messages: readonly SourceRow[],
  userBridges: readonly Bridge[],
  packageBridges: readonly Bridge[],
): Promise<BatchResult> {
  const ctx = {
    known: o.known,
    pseudonym: (period: string, name: string) => o.pseudonymizer.pseudonym(period, name),
    period: (ts: string) => o.pseudonymizer.period(ts),
  };
  const tier: (TierRow & { topic_ltree?: string | null })[] = [];
  const texts: TextRow[] = [];
  const quarantine: object[] = [];
  const tierUsers: object[] = [];
  const piiUsers: object[] = [];
  /** Published message id -> its timestamp: a bridge row takes its message's (no foreign key checks it). */
  const published = new Map<number, string>();
  for (const m of messages) {
    const r = rewriteMessage(m, o.rules, ctx);
    if (!r.ok) {
      quarantine.push({
        id: m.id,
        msg_id: m.msg_id,
        timestamp: m.timestamp,
        topic: m.topic,
        reason: r.reason,
        bytes: m.bytes,
        body: r.reason === 'too large' ? null : m.body,
      });
      continue;
    }
    published.set(m.id, m.timestamp);
    const row: TierRow & { topic_ltree?: string | null } = r.row;
    if (o.ltree) row.topic_ltree = LTREE_TOPIC.test(row.topic) ? row.topic : null;
    tier.push(row);
    texts.push(...r.texts);
    newUserRows(o, r.row.period, r.usernames, tierUsers, piiUsers);
  }
  const users: object[] = [];
  for (const b of userBridges) {
    const ts = published.get(b.msg_id);
    if (ts === undefined) continue;
    const name = o.userNames.get(b.ref);
    if (name === undefined) throw new Error(`users_messages names user id ${b.ref}, which users does not hold`);
    const period = o.pseudonymizer.period(ts);
    newUserRows(o, period, [name], tierUsers, piiUsers);
    users.push({ user_id: o.pseudonymizer.userId(period, name, b.ref), msg_id: b.msg_id, msg_timestamp: ts });
  }
  const packages: object[] = [];
  for (const b of packageBridges) {
    const ts = published.get(b.msg_id);
    if (ts === undefined) continue;
    if (!o.packageIds.has(b.ref)) throw new Error(`packages_messages names package id ${b.ref}, which packages does not hold`);
    packages.push({ package_id: b.ref, msg_id: b.msg_id, msg_timestamp: ts });
  }

  const s = o.pseudoSchema;
  const parts: [string, Spec, object[], string?][] = [
    [`${s}.messages`, o.ltree ? [...MESSAGE_SPEC, LTREE_COLUMN] : MESSAGE_SPEC, tier],
    [`${s}.users`, TIER_USER_SPEC, tierUsers],
    [`${o.bridgeSchema}.users_messages`, USER_BRIDGE_SPEC, users],
    [`${o.bridgeSchema}.packages_messages`, PACKAGE_BRIDGE_SPEC, packages],
    ['pii.users', PII_USER_SPEC, piiUsers],
    [
      'pii.message_text',
      TEXT_SPEC,
      texts,
      o.topoff ? 'NOT EXISTS (SELECT 1 FROM pseudonymized.messages m WHERE m.msg_id = r.msg_id)' : undefined,
    ],
    ['tiers.quarantine', QUARANTINE_SPEC, quarantine],
  ];
  const used = parts.filter(([, , rows]) => rows.length > 0);
  if (used.length > 0) {
    const ctes = used.map(([table, spec, , where], i) => `i${i} AS (${insertSql(table, spec, { param: i + 1, ...(where ? { where } : {}) })})`);
    await db.query(`WITH ${ctes.join(',\n')}\nSELECT 1`, used.map(([, , rows]) => JSON.stringify(rows)));
  }
  return { published: tier.length, quarantined: quarantine.length };
}
