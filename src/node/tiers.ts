// `npm run tiers -- build|topoff|rotate`: the pseudonymized and pii tiers from a Datanommer
// replica (src/tiers/). Run as the owner of the warehouse's tier schemas (the DBA); the
// pseudonym keys stay in a file on this host (see src/tiers/keys.ts for why).
import path from 'node:path';
import pg from 'pg';
import { appendAudit } from '../audit/log.js';
import { connectClient, controlDb, createPool } from '../db/client.js';
import { loadPolicy } from '../policy/load.js';
import { PolicyError } from '../policy/parse.js';
import { buildTiers, LeakGuardRefused } from '../tiers/build.js';
import { KeyFile, type KeySource, periodOf, singleKey } from '../tiers/keys.js';
import { progressPrinter } from '../tiers/progress.js';
import { topoff, TopoffRefused } from '../tiers/topoff.js';
import { parseCliArgs } from './cli-args.js';
import { embeddedUrl } from './embedded-url.js';
import { readDemoSecrets } from './secrets.js';

const HELP = `Usage:
  npm run tiers -- build --source <Datanommer URL> [--source-schema public] [--url <warehouse URL>] [--keys <file>] [--dir policies]
  npm run tiers -- topoff --date YYYY-MM-DD --from <dir> [--source <URL>] [--source-schema <schema>] [--url <warehouse URL>] [--keys <file>] [--allow-gap]
  npm run tiers -- rotate [--period <period>] [--retire <period>] [--keys <file>] [--control-url <URL>]
  --url          the warehouse, as the owner of its tier schemas; env WAREHOUSE_OWNER_URL, RECONCILE_DATABASE_URL or DATABASE_URL
  --source       the Datanommer database (default: the warehouse); build reads it, topoff also writes the day into it
  --from         a directory with the day's \\COPY files: messages.copy, users.copy, packages.copy,
                 users_messages.copy, packages_messages.copy (each may be .copy.gz), columns in table order
  --keys         the pseudonym key file (env PSEUDONYM_KEYS_FILE; default DATA_DIR/pseudonym-keys.json)
  --control-url  the gate's control database, for the audit event of a rotation; env CONTROL_DATABASE_URL or DATABASE_URL
  Without URLs: the embedded demo cluster of \`npm start\` (DATA_DIR, EMBEDDED_PG_PORT).`;

const parse = (argv: string[]) =>
  parseCliArgs(argv, {
    switches: ['--allow-gap'],
    values: ['--source', '--source-schema', '--url', '--keys', '--dir', '--date', '--from', '--period', '--retire', '--control-url'],
    usage: HELP,
  });

const say = (line: string) => process.stderr.write(`${line}\n`);

function keySource(args: Record<string, string | boolean>, rotation: string): { keys: KeySource; file: KeyFile | null } {
  const dataDir = path.resolve(process.env.DATA_DIR ?? '.data');
  const given = (args.keys as string | undefined) ?? process.env.PSEUDONYM_KEYS_FILE;
  // The embedded demo keeps its one key with its other secrets; `--keys` overrides it.
  const demoKey = readDemoSecrets(dataDir)?.pseudonymKey;
  if (!given && rotation === 'none' && demoKey) return { keys: singleKey(demoKey), file: null };
  const file = new KeyFile(path.resolve(given ?? path.join(dataDir, 'pseudonym-keys.json')), (p) => say(`made the pseudonym key of period ${p}`));
  return { keys: file, file };
}

const connect = (url: string): Promise<pg.Client> => connectClient({ connectionString: url, application_name: 'fdwg-tiers' });

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--'));
  const args = parse(rest);
  if (args.help || !command || command === 'help' || command === '--help') {
    process.stdout.write(`${HELP}\n`);
    return command ? 0 : 2;
  }
  const env = process.env;
  const policy = loadPolicy(path.resolve((args.dir as string) ?? env.POLICY_DIR ?? 'policies'));
  const rotation = policy.pseudonyms.rotation;

  if (command === 'rotate') {
    const { file } = keySource(args, rotation);
    if (!file) throw new Error('rotation none with the demo key: there is nothing to rotate (set pseudonyms.rotation, or pass --keys)');
    const period = (args.period as string | undefined) ?? periodOf(rotation, new Date().toISOString().replace('T', ' '));
    const retire = args.retire as string | undefined;
    const changed = retire ? file.retire(retire) : file.create(period);
    const what = retire ? `retired the key of ${retire}` : `made the key of ${period}`;
    if (!changed) {
      say(retire ? `no key of ${retire} to retire` : `period ${period} has its key already`);
      return 0;
    }
    const controlUrl = (args['control-url'] as string | undefined) ?? env.CONTROL_DATABASE_URL ?? env.DATABASE_URL ?? embeddedUrl('fdwg_control');
    if (!controlUrl) throw new Error(`${what}, but no control database to audit it: pass --control-url`);
    const pool = createPool(controlUrl, 1);
    try {
      await controlDb(pool).transaction((tx) =>
        appendAudit(tx, {
          action: 'pseudonyms.rotated',
          actor: `system:tiers-cli (${env.USER ?? 'unknown'})`,
          details: retire ? { retired: retire, rotation } : { period, rotation },
        }),
      );
    } finally {
      await pool.end();
    }
    say(`${what} (${file.file}); audited as pseudonyms.rotated`);
    return 0;
  }

  const url = (args.url as string | undefined) ?? env.WAREHOUSE_OWNER_URL ?? env.RECONCILE_DATABASE_URL ?? env.DATABASE_URL ?? embeddedUrl('fdwg_warehouse');
  if (!url) throw new Error(`no warehouse given and no embedded demo cluster found\n${HELP}`);
  const db = await connect(url);
  const sourceUrl = args.source as string | undefined;
  const source = sourceUrl && sourceUrl !== url ? await connect(sourceUrl) : db;
  const { keys } = keySource(args, rotation);
  try {
    if (command === 'build') {
      if (!sourceUrl) throw new Error(`build needs --source <Datanommer URL>\n${HELP}`);
      const s = await buildTiers({
        source,
        sourceSchema: (args['source-schema'] as string) ?? 'public',
        target: db,
        policy,
        keys,
        onProgress: progressPrinter('build'),
      });
      say(
        `built the tiers from ${s.layout.schema} (${s.layout.body === 'msg' ? 'msg' : 'msg_raw/msg_json'}${s.layout.hypertable ? ', hypertable' : ''}): ` +
          `${s.published.toLocaleString('en')} messages published, ${s.quarantined.toLocaleString('en')} quarantined (tiers.quarantine), ` +
          `${s.users.toLocaleString('en')} users${s.ltree ? '' : ', no ltree here: topic_ltree left out'}, in ${s.seconds.toFixed(1)} s. ` +
          'Run `npm run reconcile -- --apply` to grant the new tables.',
      );
      return 0;
    }
    if (command === 'topoff') {
      if (typeof args.date !== 'string' || typeof args.from !== 'string') throw new TopoffRefused(`topoff needs --date YYYY-MM-DD and --from <dir>\n${HELP}`);
      const recorded = await db.query<{ s: string }>(`SELECT source_schema AS s FROM tiers.state`).catch(() => ({ rows: [] as { s: string }[] }));
      const s = await topoff({
        db,
        source,
        sourceSchema: (args['source-schema'] as string) ?? recorded.rows[0]?.s ?? 'public',
        policy,
        keys,
        day: args.date,
        dir: path.resolve(args.from),
        allowGap: args['allow-gap'] === true,
        // Smaller batches only make a test's kill land mid-day; not a tuning knob.
        ...(Number(env.TIERS_BATCH) > 0 ? { batch: Number(env.TIERS_BATCH) } : {}),
        onProgress: progressPrinter(`topoff ${args.date}`),
      });
      say(
        `topped off ${s.day}: ${s.messages.toLocaleString('en')} messages in the files, ${s.added.toLocaleString('en')} new in the tier, ` +
          `${s.quarantined.toLocaleString('en')} quarantined, in ${s.seconds.toFixed(1)} s`,
      );
      return 0;
    }
    throw new Error(`unknown command ${command}\n${HELP}`);
  } finally {
    if (source !== db) await source.end().catch(() => {});
    await db.end().catch(() => {});
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    const known = err instanceof PolicyError || err instanceof TopoffRefused || err instanceof LeakGuardRefused;
    say(known ? (err as Error).message : `tiers failed: ${(err as Error).message}`);
    process.exit(err instanceof TopoffRefused ? 3 : 1);
  },
);
