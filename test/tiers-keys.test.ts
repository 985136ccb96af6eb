// Pseudonym keys per period (src/tiers/keys.ts): the file outside the warehouse, periods,
// rotation and retirement.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { pseudonymFor } from '../src/demo/pseudonym.js';
import { KeyFile, periodOf, Pseudonymizer, singleKey } from '../src/tiers/keys.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'fdwg-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('periods: none, yearly, quarterly', () => {
  expect(periodOf('none', '2025-03-31 23:59:59.999')).toBe('all');
  expect(periodOf('yearly', '2025-03-31 23:59:59.999')).toBe('2025');
  expect(['2025-01-01 00:00:00', '2025-03-31 23:59:59', '2025-04-01 00:00:00', '2025-12-31 12:00:00'].map((t) => periodOf('quarterly', t))).toEqual([
    '2025-Q1',
    '2025-Q1',
    '2025-Q2',
    '2025-Q4',
  ]);
});

test('a key file: one random key per period, 0600, kept across opens; a retired period cannot be pseudonymized again', () => {
  const file = path.join(dir, 'keys.json');
  const made: string[] = [];
  const keys = new KeyFile(file, (p) => made.push(p));
  const q1 = keys.keyFor('2025-Q1');
  expect(keys.keyFor('2025-Q1')).toBe(q1);
  expect(keys.create('2025-Q2')).toBe(true);
  expect(keys.create('2025-Q2')).toBe(false);
  expect(made).toEqual(['2025-Q1']);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  const again = new KeyFile(file);
  expect(again.periods()).toEqual(['2025-Q1', '2025-Q2']);
  expect(again.keyFor('2025-Q1')).toBe(q1);
  expect(again.keyFor('2025-Q2')).not.toBe(q1);
  expect(again.retire('2025-Q1')).toBe(true);
  expect(() => new KeyFile(file).keyFor('2025-Q1')).toThrow(/retired/);
});

test('pseudonyms: the demo formula per period key; same within a period, different across; per-period user ids only with rotation', async () => {
  const keys = new KeyFile(path.join(dir, 'other.json'));
  const p = new Pseudonymizer('quarterly', keys);
  const a1 = p.pseudonym('2025-Q1', 'alice');
  expect(a1).toBe(await pseudonymFor(keys.keyFor('2025-Q1'), 'alice'));
  expect(p.pseudonym('2025-Q1', 'alice')).toBe(a1);
  expect(p.pseudonym('2025-Q2', 'alice')).not.toBe(a1);
  expect(p.userId('2025-Q1', 'alice', 7)).not.toBe(p.userId('2025-Q2', 'alice', 7));
  expect(p.userId('2025-Q1', 'alice', 7)).toBe(p.userId('2025-Q1', 'alice', 7));
  const none = new Pseudonymizer('none', singleKey('demo-key'));
  expect(none.pseudonym('all', 'alice')).toBe(await pseudonymFor('demo-key', 'alice'));
  expect(none.userId('all', 'alice', 7)).toBe(7);
});
