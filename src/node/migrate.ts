// Node-only: migrates the control database as its owner and grants the gate's login its rights.
// `npm run migrate` (CONTROL_MIGRATE_URL = owner, CONTROL_DATABASE_URL = the gate's login).
import { createPool } from '../db/client.js';
import { migrateAndGrant } from '../db/migrate.js';

export async function migrateControl(ownerUrl: string, gateUrl: string): Promise<void> {
  const gateRole = decodeURIComponent(new URL(gateUrl).username);
  if (!gateRole) throw new Error('CONTROL_DATABASE_URL must name the gate login');
  // No connection timeout, as before: a migration waits for a busy cluster.
  const pool = createPool(ownerUrl, 1, { connectionTimeoutMillis: 0 });
  try {
    await migrateAndGrant(pool, gateRole);
  } finally {
    await pool.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const owner = process.env.CONTROL_MIGRATE_URL;
  const gate = process.env.CONTROL_DATABASE_URL ?? process.env.DATABASE_URL;
  if (!owner || !gate) {
    process.stderr.write('set CONTROL_MIGRATE_URL (owner) and CONTROL_DATABASE_URL (gate login)\n');
    process.exit(2);
  }
  migrateControl(owner, gate).then(
    () => process.stdout.write('control database migrated\n'),
    (err: Error) => {
      process.stderr.write(`migration failed: ${err.message}\n`);
      process.exit(1);
    },
  );
}
