// Harness: a complete gate on a cluster we hold the superuser of (own databases, own role prefix,
// own issuer), served over real HTTP. Nothing is mocked. No vitest imports here, so benches use it
// too; test files use startTestGate from ./gate.ts.
import path from 'node:path';
import { serve } from '@hono/node-server';
import pg from 'pg';
import { createApp, createServices } from '../../src/app.js';
import type { Services } from '../../src/types.js';
import { type AppConfig, FEDORA_SCOPES } from '../../src/config.js';
import { SERVING_POOL_TIMEOUTS, createPool } from '../../src/db/client.js';
import { demoAccounts } from '../../src/dev/demo-accounts.js';
import { type DevIssuer, type DevIssuerOptions, startDevIssuer } from '../../src/dev/oidc-issuer.js';
import { createLogger } from '../../src/log.js';
import { prepareDatabases, urlWith } from '../../src/node/databases.js';
import { loadPolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/schema.js';
import { managedRoles } from '../../src/provisioner/roles.js';
import { freePort } from '../../src/dev/net.js';
import { randomBytes } from 'node:crypto';

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

export interface GateOptions {
  demoMessages?: number;
  policy?: (p: Policy) => Policy;
  config?: Partial<Omit<AppConfig, 'oidc'>> & { oidc?: Partial<AppConfig['oidc']> };
  /** Receives every log line (default: kept in `logs`). */
  logSink?: (line: string) => void;
  /** Called with the pools before the first request (benches attach tracing here). */
  onPools?: (pools: { control: pg.Pool; warehouse: pg.Pool }) => void;
  /** More origins that may use this gate's OIDC client (another runtime serving the same app). */
  alsoServedAt?: string[];
  /** The issuer's shape; default Ipsilon's (claims from UserInfo only, a snapshot at sign-in). */
  issuer?: Pick<DevIssuerOptions, 'claimsInIdToken' | 'userinfo'>;
}

const uniqueSuffix = () => randomBytes(4).toString('hex');

export async function startGateOn(superuserUrl: string, opts: GateOptions = {}): Promise<TestGate> {
  const adminUrl = () => superuserUrl;
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
        redirect_uris: [publicUrl, ...(opts.alsoServedAt ?? [])].map((u) => `${u}/auth/callback`),
        post_logout_redirect_uris: [publicUrl, ...(opts.alsoServedAt ?? [])].map((u) => `${u}/`),
      },
    ],
    accounts: demoAccounts,
    ...opts.issuer,
  });
  const { oidc: oidcOverrides, ...configOverrides } = opts.config ?? {};
  const config: AppConfig = {
    publicUrl,
    demo: true,
    rolePrefix: prefix,
    sessionSecret: `session-${uniqueSuffix()}-${uniqueSuffix()}-${uniqueSuffix()}-${uniqueSuffix()}`,
    oidc: {
      issuer: issuer.issuer,
      logoutUrl: issuer.logoutUrl,
      clientId,
      clientSecret,
      scopes: FEDORA_SCOPES,
      usernameClaim: 'nickname',
      groupsClaim: 'groups',
      ...oidcOverrides,
    },
    analystDb: { host: '127.0.0.1', port: Number(new URL(adminUrl()).port), database: warehouseDatabase },
    ...configOverrides,
  };
  const logs: string[] = [];
  // The serving gate's pool settings (timeouts), so tests see what production does.
  const controlPool = createPool(controlUrl, 10, SERVING_POOL_TIMEOUTS);
  const warehousePool = createPool(warehouseUrl, 10, SERVING_POOL_TIMEOUTS);
  opts.onPools?.({ control: controlPool, warehouse: warehousePool });
  const deps = { config, policy, controlPool, warehousePool, logger: createLogger('debug', opts.logSink ?? ((l) => logs.push(l))) };
  const services = createServices(deps);
  const app = createApp(deps, services);
  const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });

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
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      await closed;
      await Promise.allSettled([controlPool.end(), warehousePool.end(), issuer.close()]);
    },
  };
}

/** Connects to this gate's warehouse as an analyst, the way psql would. */
export function analystClient(gate: TestGate, role: string, password: string): pg.Client {
  const { host, port, database } = gate.config.analystDb;
  return new pg.Client({ host, port, database, user: role, password });
}
