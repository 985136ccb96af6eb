#!/usr/bin/env node
// The `fdwg` command: TypeScript sources run through tsx, with this package's own tsconfig (never
// one found in the current directory), so it works from a clone (`npx fdwg`) and installed (`npm
// install -g`).
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const { runAsProgram } = await import('../src/cli/main.ts');
await runAsProgram();
