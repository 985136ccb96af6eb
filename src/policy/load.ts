// Node-only: reads policies/ from disk.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parsePolicy } from './parse.js';
import type { Policy } from './schema.js';

export function loadPolicy(dir: string): Policy {
  const file = path.join(dir, 'policy.yaml');
  const rel = path.relative(process.cwd(), file) || file;
  return parsePolicy(rel, readFileSync(file, 'utf8'), (f) => readFileSync(path.join(dir, f), 'utf8'));
}
