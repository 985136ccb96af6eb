import { expect, test } from 'vitest';
import { adminUrl, withClient } from './support/pg.js';

test('the test cluster is real PostgreSQL with scram-sha-256 passwords', async () => {
  await withClient(adminUrl(), async (c) => {
    const { rows } = await c.query(`SELECT current_setting('password_encryption') AS enc, version() AS v`);
    expect(rows[0].enc).toBe('scram-sha-256');
    expect(rows[0].v).toMatch(/PostgreSQL/);
  });
  const bad = new URL(adminUrl());
  bad.password = 'wrong';
  await expect(withClient(bad.toString(), async () => 1)).rejects.toThrow(/password authentication failed/);
});
