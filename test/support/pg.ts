import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export const adminUrl = () => inject('pgAdminUrl');
export const pgLogFile = () => inject('pgLogFile');

/** A URL for `database` on the test cluster, as `user`/`password` (default: the superuser). */
export function urlFor(database: string, user?: string, password?: string): string {
  const u = new URL(adminUrl());
  u.pathname = `/${database}`;
  if (user !== undefined) {
    u.username = encodeURIComponent(user);
    u.password = encodeURIComponent(password ?? '');
  }
  return u.toString();
}

/** Short random suffix so parallel test files never share a database or role name. */
export const uniqueSuffix = () => randomBytes(4).toString('hex');

export async function createDatabase(prefix = 't'): Promise<string> {
  const name = `${prefix}_${uniqueSuffix()}`;
  const c = new pg.Client({ connectionString: adminUrl() });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`);
  } finally {
    await c.end();
  }
  return name;
}

export { withClient } from '../../src/node/databases.js';
