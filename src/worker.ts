// Cloudflare Workers entry: the same app factory, configured from the Worker's environment.
// Databases are reached through Hyperdrive bindings (HYPERDRIVE_CONTROL, HYPERDRIVE_WAREHOUSE in
// wrangler.toml), which keep the real connections warm near the database; without a binding the
// *_DATABASE_URL variables are used (pg over TCP with nodejs_compat). Migrations, the demo and the
// reconciler are Node-only (see README "Operations"); a Worker always runs against an external setup.
import { createApp, createServices } from './app.js';
import type { Services } from './types.js';
import { externalAppConfig, parseEnv } from './config.js';
import { SERVING_POOL_TIMEOUTS, createPool } from './db/client.js';
import { parsePolicy } from './policy/parse.js';
import { sweepAll } from './sweeps.js';
import { databaseMetrics } from './metrics/endpoint.js';
import agreement202611 from '../policies/agreements/2026-11.md';
import policyText from '../policies/policy.yaml';

const agreements: Record<string, string> = { 'agreements/2026-11.md': agreement202611 };

/** What a Hyperdrive binding gives a Worker (only its connection string is used). */
interface HyperdriveBinding {
  connectionString: string;
}
type WorkerEnv = Record<string, string | HyperdriveBinding | undefined>;

/** Which variable each Hyperdrive binding stands for. */
const HYPERDRIVE_BINDINGS = { HYPERDRIVE_CONTROL: 'CONTROL_DATABASE_URL', HYPERDRIVE_WAREHOUSE: 'WAREHOUSE_DATABASE_URL' } as const;

/** The Worker's variables, with each bound Hyperdrive's connection string in place of its URL variable. */
function settingsOf(env: WorkerEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string') out[k] = v;
  for (const [binding, variable] of Object.entries(HYPERDRIVE_BINDINGS)) {
    const bound = env[binding];
    if (bound && typeof bound === 'object' && typeof bound.connectionString === 'string') out[variable] = bound.connectionString;
  }
  return out;
}

// Per isolate: the access-log counts carry over between scrapes served by the same isolate.
const metrics = databaseMetrics();
interface Ctx {
  waitUntil(p: Promise<unknown>): void;
}

const policy = parsePolicy('policies/policy.yaml', policyText, (file) => {
  const text = agreements[file];
  if (text === undefined) throw new Error(`agreement ${file} is not bundled`);
  return text;
});

/**
 * Builds the gate for one invocation. Workers cannot share I/O objects between requests: a pool
 * whose sockets were opened by one request hangs the next one. So every invocation gets its own
 * small pools, closed once it is done (pool.end waits for a streamed export to release its
 * client). With Hyperdrive those are connections to Hyperdrive's pool, not new database logins.
 */
function build(env: WorkerEnv, ctx: Ctx) {
  const parsed = externalAppConfig(parseEnv(settingsOf(env)));
  const deps = {
    config: parsed.config,
    policy,
    metrics,
    controlPool: createPool(parsed.controlUrl, 2, SERVING_POOL_TIMEOUTS),
    warehousePool: createPool(parsed.warehouseUrl, 2, SERVING_POOL_TIMEOUTS),
    passwordsAhead: 0,
  };
  const services: Services = createServices(deps);
  const close = () => ctx.waitUntil(Promise.allSettled([deps.controlPool.end(), deps.warehousePool.end()]));
  return { app: createApp(deps, services), services, close };
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: Ctx) {
    const gate = build(env, ctx);
    try {
      return await gate.app.fetch(request, env, ctx as never);
    } finally {
      gate.close();
    }
  },
  /** Cron trigger (wrangler.toml [triggers]): the sweeps (expired access, old sign-in rows), then due webhook notifications. */
  async scheduled(_event: unknown, env: WorkerEnv, ctx: Ctx) {
    const gate = build(env, ctx);
    try {
      // Every sweep runs even when another fails (a failure still fails the cron run, after all of them).
      const swept = await sweepAll(gate.services);
      if (gate.services.webhooks) await gate.services.webhooks.deliverDue();
      if (swept.failures.length > 0) throw swept.failures[0];
    } finally {
      gate.close();
    }
  },
};
