// One real PostgreSQL (scram-sha-256) for the whole run; each test file makes its own databases
// and uses its own role prefix, so files run in parallel without seeing each other.
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/dev/embedded-postgres.js';
import { freePort } from '../../src/dev/net.js';

export { freePort };


export default async function setup(project: TestProject) {
  // A fresh directory per run: two runs at once must not share (or wipe) one cluster.
  mkdirSync('tmp', { recursive: true });
  const dir = mkdtempSync(path.resolve('tmp/test-pg-'));
  const logFile = path.join(dir, 'server.log');
  writeFileSync(logFile, '');
  const pg = await startEmbeddedPostgres({
    dir,
    port: await freePort(),
    // Log every statement so the "no password in any log line" test has something to search.
    settings: { log_statement: 'all', log_min_messages: 'info', log_connections: 'on' },
    onLog: (line) => appendFileSync(logFile, `${line}\n`),
  });
  project.provide('pgAdminUrl', pg.superuserUrl);
  project.provide('pgLogFile', logFile);
  return async () => {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgLogFile: string;
  }
}
