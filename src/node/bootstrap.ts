// `npm run bootstrap -- --url <superuser URL of the warehouse database> [--print] [--prefix fdwg_] [--table-owner <role>]`
// The DBA's one-time part: the gate's login (CREATEROLE, not superuser, no BYPASSRLS), the tier and
// dataset group roles, PUBLIC revoked on the governed schemas, pgaudit's default privileges.
// `--print` writes the SQL for a DBA who prefers to run it by hand (with --url it reads the
// server's version and the table owner from there, otherwise give --database/--server-version-num).
//
// The gate's password comes from GATE_PASSWORD and only its SCRAM verifier is sent or printed;
// without GATE_PASSWORD the role gets no password (set it later with psql's \password).
import path from 'node:path';
import { loadPolicy } from '../policy/load.js';
import { PolicyError } from '../policy/parse.js';
import { bootstrapSql, type BootstrapOptions } from '../provisioner/bootstrap.js';
import { managedRoles } from '../provisioner/roles.js';
import { scramSha256Verifier } from '../provisioner/scram.js';
import { withClient } from './databases.js';
import { parseCliArgs } from './cli-args.js';

const HELP = `Usage: npm run bootstrap -- [--url <superuser URL>] [--print] [--prefix <role prefix>] [--table-owner <role>]
                         [--database <name>] [--server-version-num 160000] [--dir <policy dir>]
  --url  the warehouse database as a superuser; env BOOTSTRAP_DATABASE_URL
  GATE_PASSWORD (env): the gate login's password; only its SCRAM verifier leaves this process.`;

const parse = (argv: string[]) => parseCliArgs(argv, { switches: ['--print'], values: ['--url', '--prefix', '--table-owner', '--database', '--server-version-num', '--dir'], usage: HELP });

async function main() {
  const args = parse(process.argv.slice(2));
  if (args.help) return void process.stdout.write(`${HELP}\n`);
  const url = (args.url as string | undefined) ?? process.env.BOOTSTRAP_DATABASE_URL;
  const prefix = (args.prefix as string | undefined) ?? process.env.ROLE_PREFIX ?? 'fdwg_';
  if (!/^[a-z][a-z0-9_]{0,15}$/.test(prefix)) throw new Error('the prefix must be lower-case letters, digits and _, at most 16');
  const policy = loadPolicy(path.resolve((args.dir as string | undefined) ?? process.env.POLICY_DIR ?? 'policies'));
  const password = process.env.GATE_PASSWORD;
  const gatePasswordVerifier = password ? await scramSha256Verifier(password) : undefined;
  const gate = managedRoles(prefix).gate;

  const options = async (facts: { database: string; owner: string; version: number; pgaudit: boolean }): Promise<BootstrapOptions> => ({
    prefix,
    database: facts.database,
    tableOwner: (args['table-owner'] as string | undefined) ?? facts.owner,
    gatePasswordVerifier,
    serverVersionNum: facts.version,
    policy,
    pgaudit: facts.pgaudit,
  });
  const readFacts = async (c: import('pg').Client) => {
    const { rows } = await c.query<{ me: string; su: boolean }>(`SELECT current_user AS me, rolsuper AS su FROM pg_roles WHERE rolname = current_user`);
    if (!rows[0]?.su) throw new Error(`${rows[0]?.me} is not a superuser: the bootstrap creates roles and changes grants it does not own`);
    return c
      .query<{ database: string; owner: string; v: string; preload: string; su: boolean }>(
        `SELECT current_database() AS database, current_user AS owner, current_setting('server_version_num') AS v,
                current_setting('shared_preload_libraries') AS preload, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su`,
      )
      .then(({ rows: [r] }) => ({ database: r!.database, owner: r!.owner, version: Number(r!.v), pgaudit: /(^|,)\s*pgaudit\s*(,|$)/.test(r!.preload), su: r!.su }));
  };

  if (args.print) {
    const facts = url
      ? await withClient(url, readFacts)
      : {
          database: (args.database as string | undefined) ?? 'fdwg_warehouse',
          owner: (args['table-owner'] as string | undefined) ?? 'postgres',
          version: Number((args['server-version-num'] as string | undefined) ?? 160000),
          pgaudit: false,
        };
    const sql = bootstrapSql(await options(facts));
    process.stdout.write(`-- FDWG Access Gate bootstrap for database ${facts.database} (prefix ${prefix}); run as a superuser, in one transaction.\n`);
    process.stdout.write(`BEGIN;\n${sql.map((s) => `${s};`).join('\n')}\nCOMMIT;\n`);
    if (!gatePasswordVerifier) process.stdout.write(`-- GATE_PASSWORD was not set: give ${gate} its password with psql's \\password ${gate}\n`);
    return;
  }
  if (!url) throw new Error(`no superuser URL: pass --url or set BOOTSTRAP_DATABASE_URL (or use --print)\n${HELP}`);
  await withClient(url, async (c) => {
    const facts = await readFacts(c);
    const sql = bootstrapSql(await options(facts));
    await c.query('BEGIN');
    try {
      for (const s of sql) await c.query(s);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    }
    process.stdout.write(`Bootstrap applied to ${facts.database}: ${sql.length} statements, gate login ${gate}.\n`);
    if (!gatePasswordVerifier) process.stdout.write(`GATE_PASSWORD was not set: ${gate} has no password yet (psql: \\password ${gate}).\n`);
    process.stdout.write('Next: npm run reconcile -- --apply --url <this URL> --control-url <control database URL>\n');
  });
}

main().catch((err) => {
  process.stderr.write(`${err instanceof PolicyError ? err.message : `bootstrap failed: ${(err as Error).message}`}\n`);
  process.exit(1);
});
