// The embedded demo cluster's superuser URL for `database`, when `npm start` made one in DATA_DIR.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { urlWith } from './databases.js';

export function embeddedUrl(database: string): string | undefined {
  const dir = path.resolve(process.env.DATA_DIR ?? '.data');
  const file = path.join(dir, 'superuser-password');
  if (!existsSync(file)) return undefined;
  const port = process.env.EMBEDDED_PG_PORT ?? '54329';
  return urlWith(`postgres://postgres:${encodeURIComponent(readFileSync(file, 'utf8').trim())}@127.0.0.1:${port}/postgres`, database);
}
