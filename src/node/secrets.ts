// Node-only: secrets the embedded demo generates once and keeps under the data directory, outside
// the warehouse (the pseudonym key must never live next to the data it protects).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface DemoSecrets {
  sessionSecret: string;
  gatePassword: string;
  pseudonymKey: string;
  oidcClientSecret: string;
}

export function loadOrCreateSecrets(dir: string): DemoSecrets {
  const file = path.join(dir, 'secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DemoSecrets;
  const r = () => randomBytes(32).toString('base64url');
  const secrets: DemoSecrets = { sessionSecret: r(), gatePassword: r(), pseudonymKey: r(), oidcClientSecret: r() };
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}
