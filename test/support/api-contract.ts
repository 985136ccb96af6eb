// The API's contract, checked on real answers: given the method, path and status of a response and
// its parsed JSON, the route's documented zod response schema must accept it. The schemas come from
// the OpenAPIHono that the gate serves under /api (the same one /openapi.json is built from), so an
// answer the document does not describe, or a status it does not list, fails the test that got it.
import type { z } from 'zod';
import { servedApi } from '../../src/api/openapi.js';
import { createApp } from '../../src/app.js';
import type { TestGate } from './gate-core.js';

interface DocumentedRoute {
  method: string;
  /** OpenAPI path under /api, e.g. `/api/requests/{id}/withdraw`. */
  path: string;
  pattern: RegExp;
  responses: Record<string, { content?: Record<string, { schema?: unknown }> } | undefined>;
}

export interface ApiContract {
  /** Every documented operation (method in capitals, OpenAPI path). */
  routes: { method: string; path: string }[];
  /**
   * Throws unless `status` is documented for `method url` and `body` matches its JSON schema.
   * Returns `body`, so a call can wrap an expression.
   */
  check<T>(method: string, url: string, status: number, body: T): T;
}

const isZod = (s: unknown): s is z.ZodType => typeof (s as z.ZodType | undefined)?.safeParse === 'function';

/** The contract of the API the gate serves (built from the gate's own config, policy and services). */
export function apiContract(gate: TestGate): ApiContract {
  const app = createApp({ config: gate.config, policy: gate.policy, controlPool: gate.controlPool, warehousePool: gate.warehousePool }, gate.services);
  const api = servedApi(app);
  if (!api) throw new Error('createApp did not serve an API app through serveApi');
  const documented: DocumentedRoute[] = [];
  for (const def of api.openAPIRegistry.definitions) {
    if (def.type !== 'route') continue;
    const path = def.route.path === '/' ? '/api' : `/api${def.route.path}`;
    const pattern = new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^/}]+\\?\}/g, '[^/]+')}$`);
    documented.push({ method: def.route.method.toUpperCase(), path, pattern, responses: def.route.responses as DocumentedRoute['responses'] });
  }
  // A literal segment wins over a parameter (`/x/new` before `/x/{id}`).
  documented.sort((a, b) => (a.path.match(/\{/g)?.length ?? 0) - (b.path.match(/\{/g)?.length ?? 0));

  return {
    routes: documented.map(({ method, path }) => ({ method, path })),
    check(method, url, status, body) {
      const pathname = new URL(url, 'http://gate.invalid').pathname;
      const route = documented.find((r) => r.method === method.toUpperCase() && r.pattern.test(pathname));
      if (!route) throw new Error(`${method} ${pathname} is not a documented API route`);
      const what = `${route.method} ${route.path} → ${status}`;
      const response = route.responses[String(status)] ?? route.responses[`${String(status)[0]}XX`] ?? route.responses.default;
      if (!response) throw new Error(`${what} is not documented (documented: ${Object.keys(route.responses).join(', ')})`);
      const schema = response.content?.['application/json']?.schema;
      if (!isZod(schema)) throw new Error(`${what} documents no JSON schema`);
      const result = schema.safeParse(body);
      if (!result.success) {
        const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
        throw new Error(`${what}: the answer does not match its documented schema: ${issues}\n${JSON.stringify(body).slice(0, 600)}`);
      }
      return body;
    },
  };
}
