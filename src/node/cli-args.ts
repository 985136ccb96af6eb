/**
 * The Node CLIs' arguments: `--switch` flags and `--name value` options, nothing else (an unknown
 * argument is an error that shows the usage). npm's `--` separator is skipped.
 */
export function parseCliArgs(
  argv: string[],
  spec: { switches: string[]; values: string[]; usage: string },
): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') continue;
    if (a === '--help' || spec.switches.includes(a)) out[a.slice(2)] = true;
    else if (spec.values.includes(a) && argv[i + 1] !== undefined) out[a.slice(2)] = argv[++i]!;
    else throw new Error(`unexpected argument ${a}\n${spec.usage}`);
  }
  return out;
}
