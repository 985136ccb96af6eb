// The final approval's writes travel with the request's lock and its votes (src/requests/service.ts
// decide): dal.approveAndGrant with onlyIfFinal must write exactly when the vote is the last
// approval needed, and nothing otherwise. Each case runs in a transaction rolled back afterwards.
import { randomBytes } from 'node:crypto';
import { type SQL, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { controlDb } from '../src/db/client.js';
import { pgArray } from '../src/db/pg-array.js';
import * as dal from '../src/requests/dal.js';
import { type TestGate, startTestGate } from './support/gate.js';

let gate: TestGate;
let analystId = 0;
const GROUPS = new Map([
  ['ids', 'g_pii_ids'],
  ['text', 'g_pii_text'],
]);

beforeAll(async () => {
  gate = await startTestGate();
  const name = `early_${randomBytes(3).toString('hex')}`;
  const { rows } = await gate.controlPool.query<{ id: number }>(
    `INSERT INTO analysts (username, subject, role_name) VALUES ($1, $2, $3) RETURNING id`,
    [name, `sub-${name}`, `${gate.prefix}${name}`],
  );
  analystId = rows[0]!.id;
}, 120_000);

afterAll(async () => {
  await gate?.close();
});

class Rollback extends Error {}

interface Case {
  state?: string;
  required?: number;
  /** Milliseconds from `at` to the review deadline. */
  deadlineIn?: number;
  datasets?: string[];
  votes?: { reviewer: string; decision: 'approve' | 'deny' }[];
  approver?: string;
  onlyIfFinal?: boolean;
}

/** Makes the request as described, runs the write, and reports what it left behind; all rolled back. */
async function attempt(c: Case) {
  const at = new Date();
  let seen: { returned: { id: number; dataset: string }[]; state: string; votes: number; grants: { dataset: string; group_role: string; expires_at: Date }[] } | undefined;
  const username = (await gate.controlPool.query<{ username: string }>(`SELECT username FROM analysts WHERE id = $1`, [analystId])).rows[0]!.username;
  await controlDb(gate.controlPool)
    .transaction(async (tx) => {
      const q = async (query: SQL) => (await tx.execute<any>(query)).rows;
      const [req] = await q(sql`
        INSERT INTO pii_requests (analyst_id, datasets, purpose, duration_seconds, state, review_deadline, approvals_required)
        VALUES (${analystId}, ${pgArray(c.datasets ?? ['ids'])}::text[], 'test', 3600, ${c.state ?? 'pending'},
                ${new Date(at.getTime() + (c.deadlineIn ?? 3_600_000)).toISOString()}::timestamptz, ${c.required ?? 1})
        RETURNING id`);
      const requestId = Number(req.id);
      for (const v of c.votes ?? []) {
        await q(sql`INSERT INTO pii_request_reviews (request_id, reviewer, decision, at) VALUES (${requestId}, ${v.reviewer}, ${v.decision}, now())`);
      }
      const returned = await dal.approveAndGrant(tx, {
        requestId,
        approver: c.approver === 'requester' ? username : (c.approver ?? 'bob'),
        comment: 'ok',
        at,
        groupRoles: GROUPS,
        onlyIfFinal: c.onlyIfFinal ?? true,
      });
      const [r] = await q(sql`SELECT state FROM pii_requests WHERE id = ${requestId}`);
      const [v] = await q(sql`SELECT count(*)::int AS n FROM pii_request_reviews WHERE request_id = ${requestId}`);
      const grants = await q(sql`SELECT dataset, group_role, expires_at FROM pii_grants WHERE request_id = ${requestId} ORDER BY dataset`);
      seen = { returned, state: r.state, votes: v.n, grants };
      throw new Rollback();
    })
    .catch((err) => {
      if (!(err instanceof Rollback)) throw err;
    });
  return { ...seen!, at };
}

describe('the final approval written with the lock (onlyIfFinal)', () => {
  test('the last approval needed: the vote, the approval and one grant per dataset, with its group role and window', async () => {
    const r = await attempt({ datasets: ['ids', 'text'], required: 2, votes: [{ reviewer: 'dave', decision: 'approve' }] });
    expect(r.state).toBe('approved');
    expect(r.votes).toBe(2);
    expect(r.grants.map((g) => [g.dataset, g.group_role])).toEqual([
      ['ids', 'g_pii_ids'],
      ['text', 'g_pii_text'],
    ]);
    expect(new Date(r.grants[0]!.expires_at).getTime()).toBe(r.at.getTime() + 3600 * 1000);
    expect(r.returned.map((x) => x.dataset).sort()).toEqual(['ids', 'text']);
  });

  const nothing = (r: Awaited<ReturnType<typeof attempt>>, state = 'pending', votes = 0) => {
    expect(r.returned).toEqual([]);
    expect(r.grants).toEqual([]);
    expect(r.state).toBe(state);
    expect(r.votes).toBe(votes);
  };

  test('an approval that is not the last one needed writes nothing', async () => {
    nothing(await attempt({ required: 2 }));
  });

  test('an earlier approval by the same approver does not count twice', async () => {
    nothing(await attempt({ required: 2, votes: [{ reviewer: 'bob', decision: 'approve' }] }), 'pending', 1);
  });

  test('a deny by someone else is no approval', async () => {
    nothing(await attempt({ required: 2, votes: [{ reviewer: 'dave', decision: 'deny' }] }), 'pending', 1);
  });

  test("the requester's own approval writes nothing", async () => {
    nothing(await attempt({ approver: 'requester' }));
  });

  test('a request no longer pending writes nothing', async () => {
    nothing(await attempt({ state: 'withdrawn' }), 'withdrawn');
  });

  test('a review window closed, or closing within 2 ms, writes nothing', async () => {
    nothing(await attempt({ deadlineIn: -1 }));
    nothing(await attempt({ deadlineIn: 1 }));
    expect((await attempt({ deadlineIn: 50 })).state).toBe('approved');
  });

  test('a dataset without a group role writes nothing, also without onlyIfFinal', async () => {
    nothing(await attempt({ datasets: ['ids', 'gone'] }));
    nothing(await attempt({ datasets: ['ids', 'gone'], onlyIfFinal: false }));
  });

  test('without onlyIfFinal the caller decided: it writes', async () => {
    expect((await attempt({ required: 2, onlyIfFinal: false })).state).toBe('approved');
  });
});
