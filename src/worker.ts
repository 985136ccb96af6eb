// Cloudflare Workers entry: the same app factory, configured from the Worker's environment.
// Databases are reached over TCP (pg with nodejs_compat; put Hyperdrive in front in production).
// Migrations and the demo are Node-only; a Worker always runs against an external setup.
import { createApp, createServices } from './app.js';
import type { Services } from './types.js';
import { externalAppConfig, parseEnv } from './config.js';
import { SERVING_POOL_TIMEOUTS, createPool } from './db/client.js';
import { parsePolicy } from './policy/parse.js';
import { sweepAll } from './sweeps.js';
import agreement202611 from '../policies/agreements/2026-11.md';
import policyText from '../policies/policy.yaml';

const agreements: Record<string, string> = { 'agreements/2026-11.md': agreement202611 };

type WorkerEnv = Record<string, string | undefined>;
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
 * client). In production put Hyperdrive in front: it keeps the real connections warm.
 */
function build(env: WorkerEnv, ctx: Ctx) {
  const parsed = externalAppConfig(parseEnv(env));
  const deps = {
    config: parsed.config,
    policy,
    controlPool: createPool(parsed.controlUrl, 2, SERVING_POOL_TIMEOUTS),
    warehousePool: createPool(parsed.warehouseUrl, 2, SERVING_POOL_TIMEOUTS),
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
  /** Cron trigger (wrangler.toml [triggers]): the sweeper that ends expired access, then due webhook notifications. */
  async scheduled(_event: unknown, env: WorkerEnv, ctx: Ctx) {
    const gate = build(env, ctx);
    try {
      // Both sweepers run even when one fails (a failure still fails the cron run, after both).
      const swept = await sweepAll(gate.services);
      if (gate.services.webhooks) await gate.services.webhooks.deliverDue();
      if (swept.failures.length > 0) throw swept.failures[0];
    } finally {
      gate.close();
    }
  },
};
