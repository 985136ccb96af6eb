// Node-only: prepares a cluster for the gate when we hold its superuser (embedded demo and tests):
// databases, the demo warehouse, the DBA bootstrap and the control migrations.
import pg from 'pg';
import { demoWarehouseLoaded, loadDemoWarehouse } from '../demo/warehouse.js';
import { migrateAndGrant } from '../db/migrate.js';
import { connectClient, controlDb, createPool } from '../db/client.js';
import { seedDemoAuditHistory } from '../demo/audit-history.js';
import type { Policy } from '../policy/schema.js';
import { bootstrapSql } from '../provisioner/bootstrap.js';
import { managedRoles } from '../provisioner/roles.js';
import { scramSha256Verifier } from '../provisioner/scram.js';
import { quoteIdent } from '../provisioner/sql.js';

export interface PrepareOptions {
  superuserUrl: string;
  controlDatabase: string;
  warehouseDatabase: string;
  prefix: string;
  gatePassword: string;
  policy: Policy;
  demo?: {
    messages: number;
    seed: number;
    pseudonymKey: string;
    onProgress?: (done: number, total: number) => void;
    /** `npm start` only (tests want an empty log): seed a past request, reads and an alert (src/demo/audit-history.ts). */
    history?: boolean;
  };
  log?: (msg: string) => void;
}

export function urlWith(base: string, database: string, user?: string, password?: string): string {
  const u = new URL(base);
  u.pathname = `/${encodeURIComponent(database)}`;
  if (user !== undefined) {
    u.username = encodeURIComponent(user);
    u.password = encodeURIComponent(password ?? '');
  }
  return u.toString();
}

export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = await connectClient(url);
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Returns the URLs the gate uses at run time: both as `<prefix>gate`, never as the superuser. */
export async function prepareDatabases(o: PrepareOptions): Promise<{ controlUrl: string; warehouseUrl: string }> {
  const log = o.log ?? (() => {});
  await withClient(o.superuserUrl, async (c) => {
    const { rows } = await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname = ANY($1)`, [
      [o.controlDatabase, o.warehouseDatabase],
    ]);
    for (const db of [o.warehouseDatabase, o.controlDatabase]) {
      if (!rows.some((r) => r.datname === db)) await c.query(`CREATE DATABASE ${quoteIdent(db)}`);
    }
  });

  await withClient(urlWith(o.superuserUrl, o.warehouseDatabase), async (c) => {
    if (o.demo && !(await demoWarehouseLoaded(c))) {
      log(`Generating the demo warehouse (${o.demo.messages.toLocaleString('en')} messages)...`);
      const summary = await loadDemoWarehouse(c, { ...o.demo, policy: o.policy });
      log(`Demo warehouse ready: ${summary.messages.toLocaleString('en')} messages, ${summary.users} users, in ${summary.seconds.toFixed(1)} s.`);
    }
    const { rows } = await c.query<{ v: string; me: string; preload: string }>(
      `SELECT current_setting('server_version_num') AS v, current_user AS me,
              current_setting('shared_preload_libraries') AS preload`,
    );
    const statements = bootstrapSql({
      prefix: o.prefix,
      database: o.warehouseDatabase,
      tableOwner: rows[0]!.me,
      gatePasswordVerifier: await scramSha256Verifier(o.gatePassword),
      serverVersionNum: Number(rows[0]!.v),
      policy: o.policy,
      pgaudit: /(^|,)\s*pgaudit\s*(,|$)/.test(rows[0]!.preload),
    });
    for (const s of statements) await c.query(s);
  });

  const { gate, controlOwner } = managedRoles(o.prefix);
  await withClient(o.superuserUrl, async (c) => {
    await c.query(`DO $$ BEGIN CREATE ROLE ${quoteIdent(controlOwner)} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    await c.query(`ALTER DATABASE ${quoteIdent(o.controlDatabase)} OWNER TO ${quoteIdent(controlOwner)}`);
    await c.query(`REVOKE ALL ON DATABASE ${quoteIdent(o.controlDatabase)} FROM PUBLIC`);
    await c.query(`GRANT CONNECT ON DATABASE ${quoteIdent(o.controlDatabase)} TO ${quoteIdent(gate)}`);
  });
  // The superuser migrates *as* the owner, so every object belongs to the owner, not to the gate.
  // No connection timeout: as before, a busy cluster is waited for.
  const pool = createPool(urlWith(o.superuserUrl, o.controlDatabase), 1, { connectionTimeoutMillis: 0 }, { options: `-c role=${controlOwner}` });
  try {
    await migrateAndGrant(pool, gate);
    if (o.demo?.history) {
      const seeded = await withClient(urlWith(o.superuserUrl, o.warehouseDatabase), (c) => seedDemoAuditHistory(controlDb(pool), c, o.prefix));
      if (seeded.subject) log(`Demo access log: a past PII request, reads and an alert; data-subject report for "${seeded.subject}" at /audit/subjects (auditor carol).`);
    }
  } finally {
    await pool.end();
  }
  const controlUrl = urlWith(o.superuserUrl, o.controlDatabase, gate, o.gatePassword);
  return { controlUrl, warehouseUrl: urlWith(o.superuserUrl, o.warehouseDatabase, gate, o.gatePassword) };
}
