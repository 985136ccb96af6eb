// Cloudflare Workers entry: the same app factory, configured from the Worker's environment.
// Databases are reached over TCP (pg with nodejs_compat; put Hyperdrive in front in production).
// Migrations and the demo are Node-only; a Worker always runs against an external setup.
import { createApp, createServices } from './app.js';
import type { Services } from './types.js';
import { externalAppConfig, parseEnv } from './config.js';
import { createPool } from './db/client.js';
import { parsePolicy } from './policy/parse.js';
import agreement202611 from '../policies/agreements/2026-11.md';
import policyText from '../policies/policy.yaml';

const agreements: Record<string, string> = { 'agreements/2026-11.md': agreement202611 };

type WorkerEnv = Record<string, string | undefined>;
let built: { app: ReturnType<typeof createApp>; services: Services } | undefined;

function build(env: WorkerEnv) {
  const parsed = externalAppConfig(parseEnv(env));
  const policy = parsePolicy('policies/policy.yaml', policyText, (file) => {
    const text = agreements[file];
    if (text === undefined) throw new Error(`agreement ${file} is not bundled`);
    return text;
  });
  const deps = {
    config: parsed.config,
    policy,
    controlPool: createPool(parsed.controlUrl, 2),
    warehousePool: createPool(parsed.warehouseUrl, 2),
  };
  const services = createServices(deps);
  return { app: createApp(deps, services), services };
}

export default {
  fetch(request: Request, env: WorkerEnv, ctx: { waitUntil(p: Promise<unknown>): void }) {
    built ??= build(env);
    return built.app.fetch(request, env, ctx as never);
  },
  /** Cron trigger (wrangler.toml [triggers]): the sweeper that ends expired access. */
  async scheduled(_event: unknown, env: WorkerEnv, ctx: { waitUntil(p: Promise<unknown>): void }) {
    built ??= build(env);
    ctx.waitUntil(built.services.sweeper.sweep());
  },
};
