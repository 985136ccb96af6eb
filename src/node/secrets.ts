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
  /** Signs access-log anchors (src/node/anchoring.ts). */
  anchorSecret: string;
}

const KEYS = ['sessionSecret', 'gatePassword', 'pseudonymKey', 'oidcClientSecret', 'anchorSecret'] as const;

/** The embedded demo's secrets, as `npm start` left them; null when there is no demo there. */
export function readDemoSecrets(dir: string): Partial<DemoSecrets> | null {
  const file = path.join(dir, 'secrets.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<DemoSecrets>) : null;
}

/** Reads the secrets, generating any that are missing (a data directory from an older version). */
export function loadOrCreateSecrets(dir: string): DemoSecrets {
  const file = path.join(dir, 'secrets.json');
  const existing = readDemoSecrets(dir) ?? {};
  const missing = KEYS.filter((k) => typeof existing[k] !== 'string');
  if (missing.length === 0) return existing as DemoSecrets;
  const secrets = { ...existing } as DemoSecrets;
  for (const k of missing) secrets[k] = randomBytes(32).toString('base64url');
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}
