// `npm run reconcile [-- --apply] [--url <warehouse URL>] [--control-url <URL>] [--prefix fdwg_] [--dir policies] [--lock-wait 30]`
// Plans (default) or applies what makes the warehouse match the policy and the gate's state.
//
// Run it with a DBA URL (a superuser of the warehouse): only a superuser may change table, schema
// and default privileges the gate does not own, and only it can read data for the leak guard.
// Run as the gate's own login it applies the role steps and lists the rest as pending.
// Without URLs it talks to the embedded demo cluster that `npm start` runs (.data/).
//
// It needs the control database too (the gate's state, the audit log, and the reconciler's locks,
// which live there because analysts cannot connect to it). When another reconciler holds the lock
// it waits at most --lock-wait seconds, then fails naming the holder (pid, user, application).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createPool } from '../db/client.js';
import { loadPolicy } from '../policy/load.js';
import { PolicyError } from '../policy/parse.js';
import { reconcile } from '../reconcile/apply.js';
import { planSql, summary } from '../reconcile/format.js';
import { urlWith } from './databases.js';
import { parseCliArgs } from './cli-args.js';

const HELP = `Usage: npm run reconcile -- [--apply] [--url <warehouse URL>] [--control-url <URL>] [--prefix <role prefix>] [--dir <policy dir>] [--lock-wait <seconds>]
  --url          warehouse, as a superuser (or the gate login for role steps only); env RECONCILE_DATABASE_URL, WAREHOUSE_DATABASE_URL or DATABASE_URL
  --control-url  the gate's control database (its state, audit log and the reconciler's lock); env CONTROL_DATABASE_URL or DATABASE_URL
  --lock-wait    seconds to wait for another reconciler or in-flight gate changes before failing (default 30)
  Without URLs: the embedded demo cluster of \`npm start\` (DATA_DIR, EMBEDDED_PG_PORT).`;

const parse = (argv: string[]) => parseCliArgs(argv, { switches: ['--apply'], values: ['--url', '--control-url', '--prefix', '--dir', '--lock-wait'], usage: HELP });

function embeddedUrl(database: string): string | undefined {
  const dir = path.resolve(process.env.DATA_DIR ?? '.data');
  const file = path.join(dir, 'superuser-password');
  if (!existsSync(file)) return undefined;
  const port = process.env.EMBEDDED_PG_PORT ?? '54329';
  return urlWith(`postgres://postgres:${encodeURIComponent(readFileSync(file, 'utf8').trim())}@127.0.0.1:${port}/postgres`, database);
}

async function main() {
  const args = parse(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const env = process.env;
  const warehouseUrl = (args.url as string) ?? env.RECONCILE_DATABASE_URL ?? env.WAREHOUSE_DATABASE_URL ?? env.DATABASE_URL ?? embeddedUrl('fdwg_warehouse');
  const controlUrl = (args['control-url'] as string) ?? env.CONTROL_DATABASE_URL ?? env.DATABASE_URL ?? embeddedUrl('fdwg_control');
  if (!warehouseUrl || !controlUrl) throw new Error(`no database given and no embedded demo cluster found\n${HELP}`);
  const prefix = (args.prefix as string) ?? env.ROLE_PREFIX ?? 'fdwg_';
  const policy = loadPolicy(path.resolve((args.dir as string) ?? env.POLICY_DIR ?? 'policies'));
  const lockWait = Number((args['lock-wait'] as string | undefined) ?? 30);
  if (!Number.isFinite(lockWait) || lockWait <= 0) throw new Error(`--lock-wait takes a number of seconds above 0\n${HELP}`);
  const warehouse = createPool(warehouseUrl, 2);
  const control = createPool(controlUrl, 2);
  try {
    const apply = args.apply === true;
    const result = await reconcile({ policy, prefix, warehouse, control }, { apply, actor: 'system:reconciler-cli', lockWaitMs: lockWait * 1000 });
    if (result.steps.length > 0) process.stdout.write(`${planSql(result.steps)}\n\n`);
    for (const line of summary(result, apply)) process.stdout.write(`${line}\n`);
    if (!apply && result.steps.some((s) => !result.pending.includes(s))) process.stdout.write('Plan only: run again with -- --apply to change the warehouse.\n');
  } finally {
    await Promise.allSettled([warehouse.end(), control.end()]);
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof PolicyError ? err.message : `reconcile failed: ${(err as Error).message}`}\n`);
  process.exit(1);
});
