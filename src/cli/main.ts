// `fdwg`: the gate from a terminal. Parses the command line, runs one command, exits with a code a
// script can act on (see errors.ts). Output meant for a program goes to stdout; progress, hints and
// errors go to stderr.
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { COMMANDS, DEFAULT_GATE, commandHelp, mainHelp } from './help.js';
import { CliError, EXIT, usageError } from './errors.js';
import { normalizeGateUrl } from './store.js';
import { type Context, run } from './commands.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const GLOBAL_OPTIONS: Options = {
  gate: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};

const json: Options = { json: { type: 'boolean' } };
/** Each command's own options and how many positionals it takes. */
const SPECS: Record<string, { options: Options; positionals: [min: number, max: number, what?: string] }> = {
  login: { options: { device: { type: 'boolean' }, 'no-open': { type: 'boolean' } }, positionals: [0, 0] },
  logout: { options: {}, positionals: [0, 0] },
  status: { options: json, positionals: [0, 0] },
  creds: { options: { ttl: { type: 'string' }, env: { type: 'boolean' }, ...json }, positionals: [0, 0] },
  revoke: { options: json, positionals: [0, 0] },
  datasets: { options: json, positionals: [0, 0] },
  request: { options: { purpose: { type: 'string' }, for: { type: 'string' }, ...json }, positionals: [1, 20, 'a dataset name'] },
  requests: { options: json, positionals: [0, 0] },
  relinquish: { options: json, positionals: [1, 1, 'a request id'] },
  approvals: { options: json, positionals: [0, 0] },
  approve: { options: { comment: { type: 'string' }, ...json }, positionals: [1, 1, 'a request id'] },
  deny: { options: { comment: { type: 'string' }, ...json }, positionals: [1, 1, 'a request id'] },
};

export interface Parsed {
  command: string | undefined;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** The command is the first argument that is neither an option nor an option's value. */
export function parseCommandLine(argv: string[]): Parsed {
  let index = -1;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === '--gate') {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    index = i;
    break;
  }
  const command = index === -1 ? undefined : argv[index]!;
  const rest = index === -1 ? argv : [...argv.slice(0, index), ...argv.slice(index + 1)];
  if (command === 'help') {
    // `fdwg help [command]`
    const topic = rest.find((a) => !a.startsWith('-'));
    return { command: topic, values: { help: true }, positionals: [] };
  }
  if (command !== undefined && !SPECS[command]) {
    throw usageError(`unknown command "${command}". Commands: ${Object.keys(SPECS).join(', ')}. See \`fdwg --help\`.`);
  }
  const spec = command ? SPECS[command]! : { options: {}, positionals: [0, 0] as [number, number] };
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...spec.options }, allowPositionals: true, strict: true });
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    throw usageError(`${msg.replace(/\. To specify a positional argument.*$/, '')}${command ? `. See \`fdwg ${command} --help\`.` : '. See `fdwg --help`.'}`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (!values.help && command) {
    const [min, max, what] = spec.positionals;
    const n = parsed.positionals.length;
    if (n < min) throw usageError(`fdwg ${command} needs ${what}. Usage: ${COMMANDS[command]!.usage}`);
    if (n > max) throw usageError(`unexpected argument "${parsed.positionals[max]}". Usage: ${COMMANDS[command]!.usage}`);
  }
  return { command, values, positionals: parsed.positionals };
}

const flush = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write('', () => resolve()));

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const out = (line = '') => void process.stdout.write(`${line}\n`);
  const err = (line = '') => void process.stderr.write(`${line}\n`);
  try {
    const { command, values, positionals } = parseCommandLine(argv);
    if (values.version && !command) {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      out(`fdwg ${pkg.version} (node ${process.version})`);
      return EXIT.ok;
    }
    if (values.help || !command) {
      if (command && !COMMANDS[command]) throw usageError(`unknown command "${command}". See \`fdwg --help\`.`);
      out(command ? commandHelp(command) : mainHelp());
      return command || values.help ? EXIT.ok : EXIT.usage;
    }
    let gate: string;
    try {
      gate = normalizeGateUrl((values.gate as string | undefined) ?? (env.FDWG_GATE_URL || DEFAULT_GATE));
    } catch (e) {
      throw usageError(`--gate / FDWG_GATE_URL: ${(e as Error).message}`);
    }
    const ctx: Context = { gate, env, out, err };
    await run(command, values, positionals, ctx);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CliError) {
      err(`fdwg: ${e.message}`);
      return e.exitCode;
    }
    err(`fdwg: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return EXIT.error;
  }
}

/**
 * The program (bin/fdwg.mjs): runs `main` on process.argv, flushes stdout and stderr, then exits
 * explicitly, since fetch keeps idle keep-alive sockets that would hold the process open for seconds.
 */
export async function runAsProgram(): Promise<never> {
  const code = await main(process.argv.slice(2));
  await Promise.all([flush(process.stdout), flush(process.stderr)]);
  process.exit(code);
}
