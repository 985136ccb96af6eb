// A little past for the demo's access log, so that a data-subject report and an alert show
// something on the first `npm start`: alice asked for maintainer_identities three weeks ago, bob
// approved, alice read PII (once naming a person by username, once by pseudonym, once the whole
// table), the grant expired. The embedded cluster has no pgaudit, so the events ingestion would
// have written are written here, each marked `demo: true` (with the time it stands for in
// `demoAt`: the chain stamps events with the time they are appended). Also installs the
// warehouse's subject lookup (src/subjects/lookup.ts), as a DBA would.
//
// Runs once: nothing is seeded when the control database already has a PII request.
import { createHash } from 'node:crypto';
import { count } from 'drizzle-orm';
import type pg from 'pg';
import { type AuditEvent, appendAudit } from '../audit/log.js';
import { addToReadRollups } from '../subjects/dal.js';
import type { ControlDb } from '../db/client.js';
import { analysts, piiGrants, piiReadStatements, piiRequestReviews, piiRequests } from '../db/schema.js';
import { analystRoleName } from '../provisioner/role-name.js';
import { datasetRole } from '../provisioner/roles.js';
import { installSubjectLookup } from '../subjects/lookup.js';

const DAY_MS = 86_400_000;
const DATASET = 'maintainer_identities';
const PURPOSE = 'Demo: join Bodhi karma to the maintainer roster for the packaging health report.';

export interface DemoHistory {
  /** The person whose report shows the seeded reads; null when nothing was seeded. */
  subject: string | null;
}

/** `warehouse`: the warehouse as its superuser; `db`: the control database as its owner. */
export async function seedDemoAuditHistory(db: ControlDb, warehouse: pg.ClientBase, prefix: string, now = new Date()): Promise<DemoHistory> {
  await installSubjectLookup(warehouse, prefix);
  const [{ n }] = (await db.select({ n: count() }).from(piiRequests)) as [{ n: number }];
  if (Number(n) > 0) return { subject: null };
  // The person with the most free text in the PII tier: the report has rows in both datasets.
  const { rows } = await warehouse.query<{ username: string; pseudonym: string }>(
    `SELECT u.username, min(u.pseudonym) AS pseudonym FROM pii.message_text t JOIN pii.users u ON u.email = t.author_email
      GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`,
  );
  const person = rows[0];
  if (!person) return { subject: null };

  const ago = (days: number) => new Date(now.getTime() - days * DAY_MS);
  const [created, approved, ended] = [ago(21), ago(20), ago(13)];
  const roleOf = (u: string) => analystRoleName(prefix, u);
  const aliceRole = await roleOf('alice');

  await db.transaction(async (tx) => {
    const people = await tx
      .insert(analysts)
      .values(await Promise.all(['alice', 'bob'].map(async (u) => ({ username: u, subject: `demo:${u}`, roleName: await roleOf(u), lastGroups: u === 'bob' ? ['fdwg', 'fdwg-approvers'] : ['fdwg'] }))))
      .onConflictDoNothing()
      .returning({ id: analysts.id, username: analysts.username });
    const alice = people.find((p) => p.username === 'alice');
    if (!alice) return; // someone signed in first: leave their record alone
    const [request] = await tx
      .insert(piiRequests)
      .values({ analystId: alice.id, datasets: [DATASET], purpose: PURPOSE, durationSeconds: 7 * 86_400, state: 'approved', createdAt: created, reviewDeadline: ago(18), approvalsRequired: 1, decidedAt: approved, decidedBy: 'bob' })
      .returning({ id: piiRequests.id });
    const requestId = request!.id;
    await tx.insert(piiRequestReviews).values({ requestId, reviewer: 'bob', decision: 'approve', comment: 'Demo: roster join only.', at: approved });
    await tx.insert(piiGrants).values({
      requestId,
      analystId: alice.id,
      roleName: aliceRole,
      dataset: DATASET,
      groupRole: datasetRole(prefix, DATASET),
      startsAt: approved,
      expiresAt: ended,
      endedAt: ended,
      endReason: 'expired',
      endedBy: 'system:sweeper',
    });

    const demo = (at: Date, details: Record<string, unknown> = {}) => ({ ...details, demo: true, demoAt: at.toISOString() });
    const append = (e: AuditEvent) => appendAudit(tx, e);
    await append({ action: 'request.created', actor: 'alice', subject: 'alice', requestId, details: demo(created, { datasets: [DATASET], purpose: PURPOSE }) });
    await append({ action: 'request.approved', actor: 'bob', subject: 'alice', requestId, details: demo(approved, { final: true }) });
    await append({ action: 'pii.granted', actor: 'bob', subject: 'alice', requestId, dataset: DATASET, details: demo(approved, { expiresAt: ended.toISOString() }) });

    const reads: Array<{ at: Date; sql: string; alert?: { rule: string; kind: string; reason: string } }> = [
      { at: ago(19), sql: `SELECT username, email FROM pii.users WHERE username = '${person.username}'` },
      { at: ago(17), sql: `SELECT email FROM pii.users WHERE pseudonym = '${person.pseudonym}'` },
      { at: ago(14), sql: 'SELECT * FROM pii.users', alert: { rule: 'whole_table', kind: 'no_where_clause', reason: 'a statement without a WHERE clause read pii.users' } },
    ];
    for (const [i, r] of reads.entries()) {
      const sha = createHash('sha256').update(r.sql).digest('hex');
      const base = { role: aliceRole, objects: ['pii.users'], statementSha256: sha, loggedAt: r.at.toISOString() };
      const readId = await append({
        action: 'pii.read',
        actor: 'alice',
        subject: 'alice',
        requestId,
        dataset: DATASET,
        details: demo(r.at, { ...base, database: 'fdwg_warehouse', command: 'SELECT', sessionId: 'demo', statementId: i + 1, alert: false, purpose: PURPOSE }),
      });
      await tx.insert(piiReadStatements).values({ eventId: readId, statement: r.sql, statementSha256: sha });
      await addToReadRollups(tx, [readId]);
      if (r.alert) {
        await append({ action: 'alert.raised', actor: 'system:alerts', subject: 'alice', requestId, dataset: DATASET, details: demo(r.at, { ...r.alert, readEventId: readId, ...base }) });
      }
    }
    await append({ action: 'pii.revoked', actor: 'system:sweeper', subject: 'alice', requestId, dataset: DATASET, details: demo(ended, { reason: 'expired' }) });
  });
  return { subject: person.username };
}
