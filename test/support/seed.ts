// Small shared helpers for tests that look into a test gate's databases or seed them as the gate
// itself would. No vitest imports (benches may use them too).
import { withClient } from '../../src/node/databases.js';
import { scramSha256Verifier } from '../../src/provisioner/scram.js';
import type { TestGate } from './gate-core.js';

/** Rows of a query on the gate's control database, as its superuser (for assertions). */
export function controlRows<T = any>(gate: Pick<TestGate, 'controlAdminUrl'>, sql: string, params: unknown[] = []): Promise<T[]> {
  return withClient(gate.controlAdminUrl, async (c) => (await c.query(sql, params)).rows as T[]);
}

/**
 * An admitted analyst as the gate sets one up: the analysts row and the warehouse role; with
 * `password`, also a live credential (the password set through the provisioner, the lease row).
 */
export async function seedAnalyst(gate: TestGate, name: string, password?: string): Promise<{ id: number; role: string; name: string }> {
  const role = `${gate.prefix}${name}`;
  const [row] = await controlRows<{ id: number }>(gate, `INSERT INTO analysts (username, subject, role_name) VALUES ($1, $1, $2) RETURNING id`, [name, role]);
  const id = row!.id;
  await gate.services.provisioner.ensureAnalystRole(role);
  if (password) {
    const expiresAt = new Date(Date.now() + 3600_000);
    await gate.services.provisioner.issue(role, { verifier: await scramSha256Verifier(password), validUntil: expiresAt });
    await controlRows(gate, `INSERT INTO credentials (analyst_id, role_name, issued_at, expires_at) VALUES ($1, $2, now(), $3)`, [id, role, expiresAt]);
  }
  return { id, role, name };
}
