// `npm run policy:check` as a process: no database, exit 0 on the shipped policy, exit 1 with
// file:line: field for a broken copy.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const run = async (args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)('npx', ['tsx', 'src/node/policy-check.ts', ...args], {
      env: { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

test('the shipped policy passes and prints its version', async () => {
  const r = await run([]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^Policy OK: sha256:[0-9a-f]{12} \(agreement 2026-11\); 2 PII dataset\(s\)/);
});

test('a policy file with errors fails with file:line: field for each problem', async () => {
  const dir = mkdtempSync(path.resolve('tmp/policy-'));
  cpSync('policies', dir, { recursive: true });
  const file = path.join(dir, 'policy.yaml');
  const text = readFileSync(file, 'utf8')
    .replace('max_duration: 7d', 'max_duration: 7 weeks')
    .replace('- name: maintainer_identities', '- name: audit')
    .replace('tables: [pii.users]', 'tables: [pseudonymized.users]');
  writeFileSync(file, text);
  const lineOf = (needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
  const r = await run(['--dir', dir]);
  expect(r.code).toBe(1);
  const rel = path.relative(process.cwd(), file);
  expect(r.stderr).toContain(`${rel}:${lineOf('max_duration: 7 weeks')}: pii_datasets.1.max_duration: a span such as 90min, 72h or 30d`);
  expect(r.stderr).toContain(`${rel}:${lineOf('- name: audit')}: pii_datasets.0.name: the name audit is reserved (pgaudit role)`);
  expect(r.stderr).toContain(`${rel}:${lineOf('tables: [pseudonymized.users]')}: pii_datasets.0.tables.0: pseudonymized.users is not in a PII schema (pii)`);
  expect(r.stderr).toContain('3 problem(s) in the policy.');
});
