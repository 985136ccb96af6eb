// The gate-minted token, one file per gate URL under $XDG_CONFIG_HOME/fdwg/ (default
// ~/.config/fdwg/): directory 0700, file 0600, replaced whole (never half written).
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writePrivateFile } from './pgfiles.js';

export interface StoredToken {
  gate: string;
  token: string;
  username: string;
  expiresAt: string;
  createdAt: string;
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(base, 'fdwg');
}

/** `http://localhost:8787/` and `http://localhost:8787` are the same gate; a path prefix is kept. */
export function normalizeGateUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`"${raw}" is not a URL (e.g. https://gate.example.org)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`"${raw}" is not an http(s) URL`);
  if (url.username || url.password || url.search || url.hash) throw new Error(`"${raw}": give the gate's address only (no user, query or fragment)`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** A readable, collision-free file name: host, port and a hash of the whole URL. */
export function tokenFile(gate: string, env: NodeJS.ProcessEnv = process.env): string {
  const url = new URL(gate);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const hash = createHash('sha256').update(gate).digest('hex').slice(0, 12);
  return path.join(configDir(env), `token-${url.hostname.replace(/[^a-zA-Z0-9.-]/g, '_')}-${port}-${hash}.json`);
}

export function readToken(gate: string, env: NodeJS.ProcessEnv = process.env): StoredToken | undefined {
  let text: string;
  try {
    text = readFileSync(tokenFile(gate, env), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const t = JSON.parse(text) as StoredToken;
    if (typeof t.token === 'string' && t.gate === gate) return t;
  } catch {
    // A damaged file is as good as none: `fdwg login` replaces it.
  }
  return undefined;
}

export function saveToken(t: StoredToken, env: NodeJS.ProcessEnv = process.env): string {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // An existing directory made by something else keeps its mode unless we tighten it.
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  const file = tokenFile(t.gate, env);
  writePrivateFile(file, `${JSON.stringify(t, null, 2)}\n`);
  return file;
}

/** True when a file was there. */
export function deleteToken(gate: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const file = tokenFile(gate, env);
  try {
    statSync(file);
  } catch {
    return false;
  }
  rmSync(file, { force: true });
  return true;
}
