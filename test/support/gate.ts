// Test harness: a complete gate per test file on the shared test cluster (own databases, own role
// prefix, own issuer), served over real HTTP. Nothing is mocked.
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { serve } from '@hono/node-server';
import pg from 'pg';
import { createApp, createServices } from '../../src/app.js';
import type { Services } from '../../src/types.js';
import { type AppConfig, FEDORA_SCOPES } from '../../src/config.js';
import { createPool } from '../../src/db/client.js';
import { demoAccounts } from '../../src/dev/demo-accounts.js';
import { type DevIssuer, startDevIssuer } from '../../src/dev/oidc-issuer.js';
import { createLogger } from '../../src/log.js';
import { prepareDatabases, urlWith } from '../../src/node/databases.js';
import { loadPolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/schema.js';
import { managedRoles } from '../../src/provisioner/roles.js';
import { freePort } from '../setup/global.js';
import { adminUrl, uniqueSuffix } from './pg.js';

export interface TestGate {
  url: string;
  issuer: DevIssuer;
  prefix: string;
  roles: ReturnType<typeof managedRoles>;
  policy: Policy;
  config: AppConfig;
  /** Superuser URL of this gate's warehouse database (for assertions only). */
  warehouseAdminUrl: string;
  controlAdminUrl: string;
  controlUrl: string;
  warehouseUrl: string;
  /** Every line the gateway logged. */
  logs: string[];
  /** The services behind the app (to run the sweeper on demand). */
  services: Services;
  controlPool: pg.Pool;
  warehousePool: pg.Pool;
  close(): Promise<void>;
}

export async function startTestGate(
  opts: { demoMessages?: number; policy?: (p: Policy) => Policy; config?: Partial<AppConfig> } = {},
): Promise<TestGate> {
  const suffix = uniqueSuffix();
  const prefix = `t${suffix}_`;
  const policy = (opts.policy ?? ((p) => p))(loadPolicy(path.resolve('policies')));
  const controlDatabase = `control_${suffix}`;
  const warehouseDatabase = `warehouse_${suffix}`;
  const gatePassword = `gate-${uniqueSuffix()}-${uniqueSuffix()}`;
  const { controlUrl, warehouseUrl } = await prepareDatabases({
    superuserUrl: adminUrl(),
    controlDatabase,
    warehouseDatabase,
    prefix,
    gatePassword,
    policy,
    demo: { messages: opts.demoMessages ?? 1500, seed: 7, pseudonymKey: `key-${suffix}` },
  });

  const port = await freePort();
  const publicUrl = `http://localhost:${port}`;
  const clientId = `gate-${suffix}`;
  const clientSecret = `secret-${uniqueSuffix()}`;
  const issuer = await startDevIssuer({
    port: await freePort(),
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [`${publicUrl}/auth/callback`],
        post_logout_redirect_uris: [`${publicUrl}/`],
      },
    ],
    accounts: demoAccounts,
  });
  const config: AppConfig = {
    publicUrl,
    demo: true,
    rolePrefix: prefix,
    sessionSecret: `session-${uniqueSuffix()}-${uniqueSuffix()}-${uniqueSuffix()}-${uniqueSuffix()}`,
    oidc: {
      issuer: issuer.issuer,
      clientId,
      clientSecret,
      scopes: FEDORA_SCOPES,
      usernameClaim: 'nickname',
      groupsClaim: 'groups',
    },
    analystDb: { host: '127.0.0.1', port: Number(new URL(adminUrl()).port), database: warehouseDatabase },
    ...opts.config,
  };
  const logs: string[] = [];
  const controlPool = createPool(controlUrl);
  const warehousePool = createPool(warehouseUrl);
  const deps = { config, policy, controlPool, warehousePool, logger: createLogger('debug', (l) => logs.push(l)) };
  const services = createServices(deps);
  const app = createApp(deps, services);
  const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  void (server.address() as AddressInfo);

  return {
    url: publicUrl,
    issuer,
    prefix,
    roles: managedRoles(prefix),
    policy,
    config,
    warehouseAdminUrl: urlWith(adminUrl(), warehouseDatabase),
    controlAdminUrl: urlWith(adminUrl(), controlDatabase),
    controlUrl,
    warehouseUrl,
    logs,
    services,
    controlPool,
    warehousePool,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.allSettled([controlPool.end(), warehousePool.end(), issuer.close()]);
    },
  };
}

/** Connects to this gate's warehouse as an analyst, the way psql would. */
export function analystClient(gate: TestGate, role: string, password: string): pg.Client {
  return new pg.Client({ connectionString: urlWith(adminUrl(), gate.config.analystDb.database, role, password) });
}
