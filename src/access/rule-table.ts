// The README's "Who may do what" table, rendered from the rule table and the routes the app
// really registers, so the README cannot drift from either: `npm run docs:rules` writes it
// between the markers below and test/access-rules.test.ts fails when README.md differs.
// Node only (reads files, builds the app); neither the gate nor the Worker imports it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createApp } from '../app.js';
import { loadPolicy } from '../policy/load.js';
import { routeActions } from './guard.js';
import { type Action, ruleTableMarkdown } from './rules.js';

export const RULES_BEGIN = '<!-- rules:begin -->';
export const RULES_END = '<!-- rules:end -->';

export const readmePath = fileURLToPath(new URL('../../README.md', import.meta.url));

/**
 * The routes of each action, as the gate registers them. The app is built with pools that never
 * connect (nothing is queried while routes are registered; `.invalid` cannot resolve should that
 * change) and a placeholder configuration: which routes exist depends on neither.
 */
export function routesByAction(): Map<Action, string[]> {
  const pool = () => new pg.Pool({ connectionString: 'postgres://docs@docs.invalid/none' });
  const app = createApp({
    config: {
      publicUrl: 'https://gate.invalid',
      demo: false,
      rolePrefix: 'docs_',
      sessionSecret: 'rule-table-docs-only-never-signs-anything',
      oidc: { issuer: 'https://issuer.invalid', clientId: 'docs', clientSecret: 'docs', scopes: 'openid', usernameClaim: 'sub', groupsClaim: 'groups' },
      analystDb: { host: 'warehouse.invalid', port: 5432, database: 'docs' },
    },
    policy: loadPolicy(fileURLToPath(new URL('../../policies', import.meta.url))),
    controlPool: pool(),
    warehousePool: pool(),
  });
  // Per action: pages before the API, one entry per path with its methods (`GET`/`POST /cli/device`).
  const paths = new Map<Action, Map<string, string[]>>();
  const routes = routeActions(app).sort((a, b) => Number(a.path.startsWith('/api/')) - Number(b.path.startsWith('/api/')));
  for (const r of routes) {
    for (const action of r.actions) {
      const byPath = paths.get(action) ?? new Map<string, string[]>();
      byPath.set(r.path, [...(byPath.get(r.path) ?? []), r.method]);
      paths.set(action, byPath);
    }
  }
  return new Map(
    [...paths].map(([action, byPath]) => [action, [...byPath].map(([p, methods]) => `${methods.join('`/`')} ${p}`)]),
  );
}

/** The table as it belongs in README.md, between the markers. */
export const readmeRuleTable = () => ruleTableMarkdown(routesByAction());

/** The text between the markers; throws when they are missing or out of order. */
export function ruleTableSection(readme: string): string {
  const begin = readme.indexOf(RULES_BEGIN);
  const end = readme.indexOf(RULES_END);
  if (begin < 0 || end < begin) throw new Error(`README.md lacks the rule table markers ${RULES_BEGIN} … ${RULES_END}`);
  return readme.slice(begin + RULES_BEGIN.length, end).trim();
}

/** `readme` with `table` between the markers (whatever was there before is dropped). */
export function withRuleTable(readme: string, table: string): string {
  ruleTableSection(readme);
  const begin = readme.indexOf(RULES_BEGIN) + RULES_BEGIN.length;
  return `${readme.slice(0, begin)}\n${table}\n${readme.slice(readme.indexOf(RULES_END))}`;
}

export const readReadme = () => readFileSync(readmePath, 'utf8');
