// `npm run policy:check [-- --dir policies]`: validates the policy without touching any database.
// Exit 0 when valid (prints the version), 1 with every problem as file:line: field: message.
import path from 'node:path';
import { PolicyError } from '../policy/parse.js';
import { loadPolicy } from '../policy/load.js';
import { policyVersion } from '../policy/version.js';

async function main() {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const i = args.indexOf('--dir');
  const dir = path.resolve(i >= 0 ? (args[i + 1] ?? '') : (process.env.POLICY_DIR ?? 'policies'));
  try {
    const policy = loadPolicy(dir);
    const v = await policyVersion(policy);
    process.stdout.write(
      `Policy OK: ${v.label}; ${policy.pii_datasets.length} PII dataset(s), ${policy.pii_dictionary.columns.length + policy.pii_dictionary.json.length} dictionary entr(ies).\n`,
    );
  } catch (err) {
    if (err instanceof PolicyError) {
      for (const p of err.problems) process.stderr.write(`${p}\n`);
      process.stderr.write(`${err.problems.length} problem(s) in the policy.\n`);
    } else {
      process.stderr.write(`Cannot read the policy in ${dir}: ${(err as Error).message}\n`);
    }
    process.exit(1);
  }
}

void main();
