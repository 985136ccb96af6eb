// The link from a PII read (as pgaudit logged it) to the approved request in force at that moment.
// Real control database; grants are written as rows because the question is purely about time
// windows and dataset coverage (the end-to-end path runs in pgaudit.test.ts).
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { requestInForceLookup } from '../src/audit/request-in-force.js';
import { controlDb, createPool } from '../src/db/client.js';
import { runMigrations } from '../src/db/migrate.js';
import { loadPolicy } from '../src/policy/load.js';
import { createDatabase, urlFor } from './support/pg.js';

const policy = loadPolicy(path.resolve('policies'));
let pool: pg.Pool;
const T0 = new Date('2026-11-01T10:00:00Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

beforeAll(async () => {
  pool = createPool(urlFor(await createDatabase('rif')));
  await runMigrations(pool);
  const q = (text: string, values: unknown[] = []) => pool.query(text, values);
  await q(`INSERT INTO analysts (id, username, subject, role_name) VALUES (1, 'alice', 's1', 'fdwg_alice'), (2, 'bob', 's2', 'fdwg_bob')`);
  const request = (id: number, analyst: number, datasets: string[], purpose: string) =>
    q(
      `INSERT INTO pii_requests (id, analyst_id, datasets, purpose, duration_seconds, state, review_deadline, approvals_required)
       VALUES ($1, $2, $3, $4, 3600, 'approved', now(), 1)`,
      [id, analyst, datasets, purpose],
    );
  const grant = (request: number, analyst: number, dataset: string, from: number, to: number, endedAt: number | null) =>
    q(
      `INSERT INTO pii_grants (request_id, analyst_id, role_name, dataset, group_role, starts_at, expires_at, ended_at)
       VALUES ($1, $2, 'r', $3, 'g', $4, $5, $6)`,
      [request, analyst, dataset, at(from), at(to), endedAt === null ? null : at(endedAt)],
    );
  await request(10, 1, ['maintainer_identities'], 'Join karma to the maintainer roster');
  await grant(10, 1, 'maintainer_identities', 0, 60, 60);
  await request(11, 1, ['maintainer_identities'], 'Second study, relinquished early');
  await grant(11, 1, 'maintainer_identities', 120, 240, 150);
  await request(12, 1, ['message_text'], 'Read comment text for the tone study');
  await grant(12, 1, 'message_text', 30, 90, null);
});

afterAll(async () => {
  await pool?.end();
});

describe('requestInForceLookup', () => {
  const find = () => requestInForceLookup(controlDb(pool), policy.pii_datasets);

  test('a read inside a grant window links to that request and its purpose', async () => {
    expect(await find()('alice', at(5), ['pii.users'])).toEqual({
      requestId: 10,
      purpose: 'Join karma to the maintainer roster',
      dataset: 'maintainer_identities',
    });
    expect(await find()('alice', at(130), ['pii.users'])).toMatchObject({ requestId: 11 });
  });

  test('the window is half-open and ends at the earlier of expiry and an early end', async () => {
    expect(await find()('alice', at(0), ['pii.users'])).toMatchObject({ requestId: 10 });
    expect(await find()('alice', at(60), ['pii.users'])).toBeNull();
    // Relinquished at minute 150, although approved until 240.
    expect(await find()('alice', at(160), ['pii.users'])).toBeNull();
  });

  test('a read after expiry is not covered even while the grant was still open (late sweep)', async () => {
    // Grant 12 expired at minute 90 but nothing ended it: PostgreSQL still allowed the read.
    expect(await find()('alice', at(95), ['pii.message_text'])).toBeNull();
    expect(await find()('alice', at(45), ['pii.message_text'])).toMatchObject({ requestId: 12, dataset: 'message_text' });
  });

  test('every table touched must be covered: a join with an uncovered table is not', async () => {
    expect(await find()('alice', at(45), ['pii.users', 'pii.message_text'])).toMatchObject({ requestId: 10 });
    expect(await find()('alice', at(5), ['pii.users', 'pii.message_text'])).toBeNull();
    // A PII table in no dataset is never covered.
    expect(await find()('alice', at(5), ['pii.users', 'pii.secret_table'])).toBeNull();
  });

  test("another analyst's grant never covers a read", async () => {
    expect(await find()('bob', at(5), ['pii.users'])).toBeNull();
    expect(await find()('nobody', at(5), ['pii.users'])).toBeNull();
  });
});
