// Node entry: resolves configuration (embedded defaults when no database URL is set), then serves
// the app built by the one factory.
import type { Server } from 'node:http';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { createApp, createServices } from '../app.js';
import { type AppConfig, ConfigError, type Env, analystTarget, externalAppConfig, isEmbedded, parseEnv, webhookConfig } from '../config.js';
import { SERVING_POOL_TIMEOUTS, controlDb, createPool } from '../db/client.js';
import { migrateControl } from './migrate.js';
import { startDevIssuer } from '../dev/oidc-issuer.js';
import { demoAccounts } from '../dev/demo-accounts.js';
import { startEmbeddedPostgres } from '../dev/embedded-postgres.js';
import { batchedStdout } from './log-sink.js';
import { createLogger } from '../log.js';
import { PolicyError } from '../policy/parse.js';
import { loadPolicy } from '../policy/load.js';
import type { Policy } from '../policy/schema.js';
import { prepareDatabases } from './databases.js';
import { loadOrCreateSecrets } from './secrets.js';
import { SWEEP_INTERVAL_MS, startSweeping } from './sweeping.js';
import { startReconciling } from './reconciling.js';
import { NOTIFY_INTERVAL_MS, startNotifying } from './notifying.js';
import { startPgauditIngest } from './pgaudit-ingest.js';
import { requestInForceLookup } from '../audit/request-in-force.js';
import { anchorKey, startAnchoring } from './anchoring.js';
import { observeRuns } from './every.js';
import { drain } from './drain.js';
import { createNodeMetrics } from '../metrics/node.js';

const say = (s: string) => process.stdout.write(`${s}\n`);

interface Runtime {
  config: AppConfig;
  controlUrl: string;
  warehouseUrl: string;
  cleanup: Array<() => Promise<void>>;
  /** Where signed anchors of the access log go (outside the database), if anywhere. */
  anchors?: { file: string; key: Uint8Array };
}

async function embeddedRuntime(env: Env, policy: Policy): Promise<Runtime> {
  const started = performance.now();
  const dataDir = path.resolve(env.DATA_DIR);
  const secrets = loadOrCreateSecrets(dataDir);
  say(`Starting embedded PostgreSQL (data in ${path.relative(process.cwd(), dataDir) || dataDir}/)...`);
  const pg = await startEmbeddedPostgres({ dir: dataDir, port: env.EMBEDDED_PG_PORT });
  const cleanup = [() => pg.stop()];
  let lastShown = 0;
  const { controlUrl, warehouseUrl } = await prepareDatabases({
    superuserUrl: pg.superuserUrl,
    controlDatabase: 'fdwg_control',
    warehouseDatabase: 'fdwg_warehouse',
    prefix: env.ROLE_PREFIX,
    gatePassword: secrets.gatePassword,
    policy,
    demo: {
      messages: env.DEMO_MESSAGES,
      seed: env.DEMO_SEED,
      history: true,
      pseudonymKey: secrets.pseudonymKey,
      onProgress: (done, total) => {
        const pct = Math.floor((done / total) * 100);
        if (pct >= lastShown + 10 || done === total) {
          lastShown = pct;
          say(`  ${pct}% (${done.toLocaleString('en')} / ${total.toLocaleString('en')} messages)`);
        }
      },
    },
    log: say,
  });
  const publicUrl = env.PUBLIC_URL ?? `http://localhost:${env.PORT}`;
  const clientId = 'fdwg-access-gate';
  const issuer = await startDevIssuer({
    port: env.DEV_ISSUER_PORT,
    clients: [
      {
        client_id: clientId,
        client_secret: secrets.oidcClientSecret,
        redirect_uris: [`${publicUrl}/auth/callback`],
        post_logout_redirect_uris: [`${publicUrl}/`],
      },
    ],
    accounts: demoAccounts,
  });
  cleanup.unshift(() => issuer.close());
  say(`Embedded services ready in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
  return {
    controlUrl,
    warehouseUrl,
    cleanup,
    anchors: { file: path.join(dataDir, 'anchors.jsonl'), key: anchorKey(secrets.anchorSecret) },
    config: {
      publicUrl,
      demo: true,
      rolePrefix: env.ROLE_PREFIX,
      sessionSecret: secrets.sessionSecret,
      tokenTtlSeconds: env.GATE_TOKEN_TTL_SECONDS,
      oidc: {
        issuer: issuer.issuer,
        logoutUrl: issuer.logoutUrl,
        clientId,
        clientSecret: secrets.oidcClientSecret,
        scopes: env.OIDC_SCOPES,
        usernameClaim: env.OIDC_USERNAME_CLAIM,
        groupsClaim: env.OIDC_GROUPS_CLAIM,
        claimsSource: env.OIDC_CLAIMS_SOURCE,
      },
      analystDb: analystTarget(env, warehouseUrl),
      webhook: webhookConfig(env),
    },
  };
}

function externalRuntime(env: Env): Runtime {
  const anchors = env.AUDIT_ANCHOR_FILE && env.AUDIT_ANCHOR_SECRET
    ? { file: path.resolve(env.AUDIT_ANCHOR_FILE), key: anchorKey(env.AUDIT_ANCHOR_SECRET) }
    : undefined;
  return { ...externalAppConfig(env), cleanup: [], ...(anchors ? { anchors } : {}) };
}

async function main() {
  const env = parseEnv(process.env);
  const policy = loadPolicy(path.resolve(env.POLICY_DIR));
  const logger = createLogger(env.LOG_LEVEL, batchedStdout());
  const rt = isEmbedded(env) ? await embeddedRuntime(env, policy) : externalRuntime(env);
  const controlPool = createPool(rt.controlUrl, 10, SERVING_POOL_TIMEOUTS);
  const warehousePool = createPool(rt.warehouseUrl, 10, SERVING_POOL_TIMEOUTS);
  if (env.CONTROL_MIGRATE_URL) await migrateControl(env.CONTROL_MIGRATE_URL, rt.controlUrl);
  const metrics = createNodeMetrics(rt.anchors ? { anchorFile: rt.anchors.file } : {});
  observeRuns((job, outcome, seconds) => metrics.observeRun(job, outcome, seconds));
  let draining = false;
  const deps = { config: { ...rt.config, ...(env.METRICS_TOKEN ? { metricsToken: env.METRICS_TOKEN } : {}) }, policy, controlPool, warehousePool, logger, metrics, draining: () => draining };
  const services = createServices(deps);
  const app = createApp(deps, services);
  const stopSweeping = startSweeping(services, logger, SWEEP_INTERVAL_MS);
  // The gate's own roles follow the policy at start and on a schedule (safe with several instances).
  const stopReconciling = startReconciling(services.reconciler, logger, env.RECONCILE_INTERVAL_SECONDS * 1000, (r) => metrics.observeReconcile(r));
  const stopNotifying = services.webhooks ? startNotifying(services.webhooks, logger, NOTIFY_INTERVAL_MS) : async () => {};
  // PII reads logged by pgaudit inside PostgreSQL; only where the gate can read the server's log.
  const stopPgaudit = env.PGAUDIT_LOG_DIR
    ? startPgauditIngest(controlDb(controlPool), logger, {
        logDir: path.resolve(env.PGAUDIT_LOG_DIR),
        rolePrefix: rt.config.rolePrefix,
        retentionDays: env.AUDIT_STATEMENT_RETENTION_DAYS,
        findRequestInForce: requestInForceLookup(controlDb(controlPool), policy.pii_datasets),
        alerts: policy.alerts,
      })
    : async () => {};
  const stopAnchoring = rt.anchors ? startAnchoring(controlPool, logger, rt.anchors) : async () => {};
  const server = serve({ fetch: app.fetch, port: env.PORT, hostname: isEmbedded(env) ? '127.0.0.1' : '0.0.0.0' });

  // One write, so the banner arrives whole (a reader of the pipe never sees half of it).
  const banner = ['', `FDWG Access Gate is up: ${rt.config.publicUrl}`];
  if (rt.config.demo) {
    banner.push(`Identity provider (demo): ${rt.config.oidc.issuer}`, 'Demo accounts (username / password):');
    for (const a of demoAccounts) banner.push(`  ${a.username.padEnd(8)} ${a.password.padEnd(14)} ${a.role}`);
  }
  banner.push('Press Ctrl+C to stop.');
  say(banner.join('\n'));

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    draining = true;
    say(`Stopping (${signal}): finishing requests in flight and background runs (at most ${env.SHUTDOWN_GRACE_SECONDS} s)...`);
    // Requests in flight and background runs finish before the pools close under them.
    const { drained, ms } = await drain(server as Server, [stopSweeping, stopReconciling, stopNotifying, stopPgaudit, stopAnchoring], env.SHUTDOWN_GRACE_SECONDS * 1000);
    if (!drained) logger.warn('shutdown grace period over: cutting what is left', { graceSeconds: env.SHUTDOWN_GRACE_SECONDS });
    await Promise.allSettled([controlPool.end(), warehousePool.end()]);
    for (const fn of rt.cleanup) await fn().catch(() => {});
    say(drained ? `Stopped after ${ms} ms.` : 'Stopped (grace period over).');
    process.exit(drained ? 0 : 1);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', stop);
}

main().catch((err) => {
  if (err instanceof ConfigError || err instanceof PolicyError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`The gate could not start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
