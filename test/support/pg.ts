import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { urlWith, withClient } from '../../src/node/databases.js';

export { withClient };

export const adminUrl = () => inject('pgAdminUrl');
export const pgLogFile = () => inject('pgLogFile');

/** A URL for `database` on the test cluster, as `user`/`password` (default: the superuser). */
export const urlFor = (database: string, user?: string, password?: string) => urlWith(adminUrl(), database, user, password);

/** Short random suffix so parallel test files never share a database or role name. */
export const uniqueSuffix = () => randomBytes(4).toString('hex');

export async function createDatabase(prefix = 't'): Promise<string> {
  const name = `${prefix}_${uniqueSuffix()}`;
  await withClient(adminUrl(), (c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
  return name;
}


