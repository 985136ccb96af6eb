// Every setting comes from the environment and is validated once, here; the parsed object is
// passed down and never re-read.
import { z } from 'zod';

const pgUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL');
const httpUrl = z.string().url().regex(/^https?:\/\//, 'an http(s) URL');
const port = z.coerce.number().int().min(1).max(65535);

export const FEDORA_SCOPES =
  'openid email profile https://id.fedoraproject.org/scope/groups https://id.fedoraproject.org/scope/agreements';

const envSchema = z
  .object({
    PORT: port.default(8787),
    PUBLIC_URL: httpUrl.optional(),
    DATABASE_URL: pgUrl.optional(),
    CONTROL_DATABASE_URL: pgUrl.optional(),
    WAREHOUSE_DATABASE_URL: pgUrl.optional(),
    /** The control database's owner; when set, the gate migrates at start. */
    CONTROL_MIGRATE_URL: pgUrl.optional(),
    ANALYST_DB_HOST: z.string().min(1).optional(),
    ANALYST_DB_PORT: port.optional(),
    OIDC_ISSUER: httpUrl.optional(),
    OIDC_CLIENT_ID: z.string().min(1).optional(),
    OIDC_CLIENT_SECRET: z.string().min(1).optional(),
    OIDC_SCOPES: z.string().min(1).default(FEDORA_SCOPES),
    OIDC_USERNAME_CLAIM: z.string().min(1).default('nickname'),
    OIDC_GROUPS_CLAIM: z.string().min(1).default('groups'),
    /** Where identity claims come from: UserInfo (works with every issuer, Ipsilon needs it) or the ID token only. */
    OIDC_CLAIMS_SOURCE: z.enum(['userinfo', 'id_token']).default('userinfo'),
    // The issuer's own sign-out page, offered after signing out of the gate when the issuer has no
    // end_session_endpoint (Ipsilon: https://id.fedoraproject.org/logout).
    OIDC_LOGOUT_URL: httpUrl.optional(),
    SESSION_SECRET: z.string().min(32, 'at least 32 characters').optional(),
    /** Lifetime of gate tokens for the CLI and scripts, seconds (at most 12 hours). */
    GATE_TOKEN_TTL_SECONDS: z.coerce.number().int().min(300).max(43_200).default(43_200),
    ROLE_PREFIX: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,15}$/, 'lower-case letters, digits and _, at most 16, starting with a letter')
      .default('fdwg_'),
    POLICY_DIR: z.string().min(1).default('policies'),
    DATA_DIR: z.string().min(1).default('.data'),
    EMBEDDED_PG_PORT: port.default(54329),
    DEV_ISSUER_PORT: port.default(8788),
    DEMO_MESSAGES: z.coerce.number().int().min(100).max(10_000_000).default(100_000),
    DEMO_SEED: z.coerce.number().int().default(20261123),
    LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    /** Where the warehouse server's logging collector writes its jsonlog (pgaudit entries); unset: no ingestion. */
    PGAUDIT_LOG_DIR: z.string().min(1).optional(),
    /** Days the text of PII-read statements is kept; afterwards only its SHA-256 remains. */
    AUDIT_STATEMENT_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
    /** Seconds between the gate's own reconcile runs (roles, LOGIN, memberships); one also runs at start. */
    RECONCILE_INTERVAL_SECONDS: z.coerce.number().int().min(10).max(86_400).default(300),
    /** Receiver of request notifications (JSON, HMAC-signed); unset: notifications stay queued. */
    WEBHOOK_URL: httpUrl.optional(),
    WEBHOOK_SECRET: z.string().min(32, 'at least 32 characters').optional(),
    /** Attempts per notification before it is given up (retries back off from 5 s to 1 h). */
    WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(12),
    /** Node: append signed anchors of the access log's head here (ship it off the database host). */
    AUDIT_ANCHOR_FILE: z.string().min(1).optional(),
    AUDIT_ANCHOR_SECRET: z.string().min(32, 'at least 32 characters').optional(),
    /** Bearer token of the Prometheus scraper for GET /metrics; unset: /metrics refuses everyone. */
    METRICS_TOKEN: z.string().min(32, 'at least 32 characters').optional(),
    /** Node: seconds a SIGTERM waits for in-flight requests and background runs before exiting anyway. */
    SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().min(0).max(3600).default(25),
  })
  .superRefine((env, ctx) => {
    if (env.WEBHOOK_URL && !env.WEBHOOK_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['WEBHOOK_SECRET'], message: 'required when WEBHOOK_URL is set' });
    }
    if (env.WEBHOOK_SECRET && !env.WEBHOOK_URL) {
      ctx.addIssue({ code: 'custom', path: ['WEBHOOK_URL'], message: 'required when WEBHOOK_SECRET is set' });
    }
    if (!env.AUDIT_ANCHOR_FILE !== !env.AUDIT_ANCHOR_SECRET) {
      ctx.addIssue({ code: 'custom', path: [env.AUDIT_ANCHOR_FILE ? 'AUDIT_ANCHOR_SECRET' : 'AUDIT_ANCHOR_FILE'], message: 'set AUDIT_ANCHOR_FILE and AUDIT_ANCHOR_SECRET together' });
    }
    const external = env.DATABASE_URL ?? env.CONTROL_DATABASE_URL ?? env.WAREHOUSE_DATABASE_URL;
    if (!external) return;
    // Against real databases nothing is generated for you: a production gate needs a real issuer.
    for (const key of ['OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET', 'SESSION_SECRET'] as const) {
      if (!env[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'required when a database URL is set' });
    }
    if (!env.DATABASE_URL && !(env.CONTROL_DATABASE_URL && env.WAREHOUSE_DATABASE_URL)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.CONTROL_DATABASE_URL ? 'WAREHOUSE_DATABASE_URL' : 'CONTROL_DATABASE_URL'],
        message: 'set both CONTROL_DATABASE_URL and WAREHOUSE_DATABASE_URL (two databases)',
      });
    }
    const control = env.CONTROL_DATABASE_URL ?? env.DATABASE_URL;
    const warehouse = env.WAREHOUSE_DATABASE_URL ?? env.DATABASE_URL;
    if (control && warehouse && sameDatabase(control, warehouse)) {
      // Every analyst can connect to the warehouse: a control database there would put the gate's
      // advisory locks (the reconciler's, the role-change lock) within their reach, and its tables'
      // existence in their catalog. Fail closed rather than run that way.
      ctx.addIssue({
        code: 'custom',
        path: ['CONTROL_DATABASE_URL'],
        message: 'must name a database of its own, not the warehouse (analysts can connect to the warehouse; the gate\'s state and locks must be out of their reach)',
      });
    }
  });

/** Same server and database name (libpq's defaults for what a URL leaves out). */
function sameDatabase(a: string, b: string): boolean {
  const key = (raw: string) => {
    try {
      const u = new URL(raw);
      return `${u.hostname.toLowerCase() || 'localhost'}:${u.port || '5432'}/${decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username)}`;
    } catch {
      return raw;
    }
  };
  return key(a) === key(b);
}

export type Env = z.infer<typeof envSchema>;

/** Every setting the gate reads (the deploy test checks manifests against it: a typo is no setting). */
export const settingNames: readonly string[] = Object.keys(envSchema.shape);

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the whole environment and reports every problem at once. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  const relevant = Object.fromEntries(
    Object.entries(source).filter(([k, v]) => k in envSchema.shape && v !== undefined && v !== ''),
  );
  const result = envSchema.safeParse(relevant);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  return result.data;
}

export const isEmbedded = (env: Env) => !(env.DATABASE_URL ?? env.CONTROL_DATABASE_URL ?? env.WAREHOUSE_DATABASE_URL);

/** What the app factory needs, after the runtime has resolved databases and the issuer. */
export interface AppConfig {
  publicUrl: string;
  demo: boolean;
  rolePrefix: string;
  sessionSecret: string;
  /** How often the session re-checks identity and groups with the issuer (refresh token). */
  sessionRefreshSeconds?: number;
  /** Lifetime of gate tokens (default and most: 12 hours). */
  tokenTtlSeconds?: number;
  /** Seconds a device-style CLI sign-in waits between polls (default 5). */
  cliPollSeconds?: number;
  oidc: {
    issuer: string;
    clientId: string;
    clientSecret: string;
    scopes: string;
    usernameClaim: string;
    groupsClaim: string;
    /** Default 'userinfo': claims from UserInfo merged over the ID token's. */
    claimsSource?: 'userinfo' | 'id_token';
    /** The issuer's own sign-out page, for issuers without an end_session_endpoint (Ipsilon). */
    logoutUrl?: string;
  };
  /** Where analysts point psql: the warehouse as seen from their machines. */
  analystDb: { host: string; port: number; database: string };
  /** Where request notifications are POSTed; unset: they stay queued in webhook_outbox. */
  webhook?: { url: string; secret: string; maxAttempts: number };
  /** The scraper's bearer token for GET /metrics; unset: /metrics refuses everyone. */
  metricsToken?: string;
}

export function webhookConfig(env: Env): AppConfig['webhook'] {
  if (!env.WEBHOOK_URL || !env.WEBHOOK_SECRET) return undefined;
  return { url: env.WEBHOOK_URL, secret: env.WEBHOOK_SECRET, maxAttempts: env.WEBHOOK_MAX_ATTEMPTS };
}

/** Where analysts point their tools: the warehouse URL's host unless overridden. */
export function analystTarget(env: Env, warehouseUrl: string): AppConfig['analystDb'] {
  const u = new URL(warehouseUrl);
  return {
    host: env.ANALYST_DB_HOST ?? (u.hostname === '127.0.0.1' ? 'localhost' : u.hostname),
    port: env.ANALYST_DB_PORT ?? Number(u.port || 5432),
    database: decodeURIComponent(u.pathname.slice(1)),
  };
}

/** Configuration against real databases and a real issuer (production, and every Workers deploy). */
export function externalAppConfig(env: Env): { config: AppConfig; controlUrl: string; warehouseUrl: string } {
  if (isEmbedded(env)) throw new ConfigError(['DATABASE_URL: required here (there is no embedded database on this runtime)']);
  const controlUrl = (env.CONTROL_DATABASE_URL ?? env.DATABASE_URL)!;
  const warehouseUrl = (env.WAREHOUSE_DATABASE_URL ?? env.DATABASE_URL)!;
  return {
    controlUrl,
    warehouseUrl,
    config: {
      publicUrl: env.PUBLIC_URL ?? `http://localhost:${env.PORT}`,
      demo: false,
      rolePrefix: env.ROLE_PREFIX,
      sessionSecret: env.SESSION_SECRET!,
      tokenTtlSeconds: env.GATE_TOKEN_TTL_SECONDS,
      oidc: {
        issuer: env.OIDC_ISSUER!,
        clientId: env.OIDC_CLIENT_ID!,
        clientSecret: env.OIDC_CLIENT_SECRET!,
        scopes: env.OIDC_SCOPES,
        usernameClaim: env.OIDC_USERNAME_CLAIM,
        groupsClaim: env.OIDC_GROUPS_CLAIM,
        claimsSource: env.OIDC_CLAIMS_SOURCE,
        ...(env.OIDC_LOGOUT_URL ? { logoutUrl: env.OIDC_LOGOUT_URL } : {}),
      },
      analystDb: analystTarget(env, warehouseUrl),
      webhook: webhookConfig(env),
      ...(env.METRICS_TOKEN ? { metricsToken: env.METRICS_TOKEN } : {}),
    },
  };
}
