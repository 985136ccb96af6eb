// A command line whose server ends its connection between statements (a shutdown's "terminating
// connection due to administrator command", here pg_terminate_backend) must end with a one-line
// message and a non-zero exit, not an unhandled 'error' event. Only a child process shows "did not
// crash" honestly: it runs a CLI-shaped script against the test cluster while this test ends its
// backends from a second superuser session.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, test } from 'vitest';
import { adminUrl, withClient } from './support/pg.js';

const CLIENT_TS = pathToFileURL(path.resolve('src/db/client.ts')).href;

// MODE=helper: the connections the CLIs now make (connectClient, and a client checked out of
// createPool, as the migrations hold one). MODE=bare: plain pg, as they were, to show the hazard.
const SCRIPT = `
import pg from 'pg';
import { connectClient, createPool } from ${JSON.stringify(CLIENT_TS)};
const url = process.env.PG_URL;
const helper = process.env.MODE === 'helper';
async function main() {
  const client = helper ? await connectClient(url) : new pg.Client({ connectionString: url });
  if (!helper) await client.connect();
  const pool = helper ? createPool(url, 1, { connectionTimeoutMillis: 0 }) : new pg.Pool({ connectionString: url, max: 1 });
  const held = await pool.connect();
  const pid = async (c) => (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p;
  // Not events.once: it listens for 'error' too, and would be the very handler under test.
  const ended = [client, held].map((c) => new Promise((resolve) => c.once('end', resolve)));
  process.stdout.write('pids ' + (await pid(client)) + ' ' + (await pid(held)) + '\\n');
  await Promise.all(ended);
  const heldError = await held.query('SELECT 1').then(() => 'answered', (e) => e.message);
  process.stdout.write('held: ' + heldError + '\\n');
  held.release(true);
  await pool.end();
  await client.query('SELECT 1');
  return 0;
}
main().then((code) => process.exit(code), (err) => {
  process.stderr.write('cli failed: ' + err.message + '\\n');
  process.exit(1);
});
`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** pg_terminate_backend's answer for the two backends; null: the script never named them. */
  terminated: boolean[] | null;
}

/** Runs the script; ends its two backends as soon as it names them. */
function scenario(mode: 'helper' | 'bare'): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
    env: { ...process.env, PG_URL: adminUrl(), MODE: mode },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let terminated: Promise<boolean[]> | null = null;
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    const m = /^pids (\d+) (\d+)$/m.exec(stdout);
    if (!m || terminated) return;
    terminated = withClient(adminUrl(), (c) =>
      c.query<{ ok: boolean }>('SELECT pg_terminate_backend(p) AS ok FROM unnest($1::int[]) p', [[Number(m[1]), Number(m[2])]]),
    ).then((r) => r.rows.map((x) => x.ok));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 8_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      void Promise.resolve(terminated).then((t) => resolve({ code, stdout, stderr, terminated: t }));
    }),
  );
}

test('a terminated backend ends a CLI with one line and exit 1; plain pg would crash on the unhandled error', async () => {
  const [helper, bare] = await Promise.all([scenario('helper'), scenario('bare')]);

  // The hazard this guards against: without listeners, the same termination kills the process.
  expect(bare.terminated).toEqual([true, true]);
  expect(bare.code).not.toBe(0);
  expect(bare.stderr).toContain("Unhandled 'error' event");
  expect(bare.stderr).not.toContain('cli failed:');

  expect(helper.terminated).toEqual([true, true]);
  // The pool's checked-out client survived its loss too, and says so on its next query.
  expect(helper.stdout).toMatch(/^held: .*(connection error|terminat)/m);
  expect(helper.code).toBe(1);
  expect(helper.stderr).toBe('cli failed: lost the database connection: terminating connection due to administrator command\n');
}, 10_000);
