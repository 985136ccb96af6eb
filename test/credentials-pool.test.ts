// A credential issue holds one warehouse connection (reserved when it starts, so its ALTER ROLE
// leaves the moment the admission check allows). A first issue also sets the role up; that must
// run on the same connection: taking a second from the pool while holding the first waits forever
// once every connection is held that way. Here 6 first issues at once share a pool of 2.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GateService } from '../src/admission/service.js';
import type { Identity } from '../src/auth/identity.js';
import { CredentialService } from '../src/credentials/service.js';
import { SERVING_POOL_TIMEOUTS, controlDb, createPool } from '../src/db/client.js';
import { Provisioner } from '../src/provisioner/provisioner.js';
import { startGateOn, type TestGate } from './support/gate-core.js';
import { adminUrl, urlFor } from './support/pg.js';

let gate: TestGate;
let warehouse: pg.Pool;

beforeAll(async () => {
  gate = await startGateOn(adminUrl(), { demoMessages: 50 });
  warehouse = createPool(gate.warehouseUrl, 2, SERVING_POOL_TIMEOUTS);
});

afterAll(async () => {
  await warehouse?.end();
  await gate?.close();
});

it('6 first issues at once on a warehouse pool of 2 all succeed, each password logs in', async () => {
  const db = controlDb(gate.controlPool);
  const admission = new GateService(db, gate.policy, gate.prefix);
  const credentials = new CredentialService(db, admission, new Provisioner(warehouse, gate.prefix, gate.policy.credentials), gate.policy.credentials);
  const people: Identity[] = Array.from({ length: 6 }, (_, i) => ({ sub: `pool-${i}`, username: `pool${i}`, email: `pool${i}@example.org`, name: `Pool ${i}`, groups: ['fdwg'] }));
  for (const p of people) {
    await admission.recordLogin(p);
    await admission.acceptAgreement(p, gate.policy.agreement.version);
  }
  const issued = await Promise.all(people.map((p) => credentials.issue(p)));
  expect(new Set(issued.map((c) => c.roleName)).size).toBe(6);
  for (const c of issued) {
    const client = new pg.Client({ connectionString: urlFor(gate.config.analystDb.database, c.roleName, c.password) });
    await client.connect();
    try {
      expect((await client.query<{ me: string }>('SELECT current_user AS me')).rows[0]!.me).toBe(c.roleName);
    } finally {
      await client.end();
    }
  }
  // Every reserved connection went back.
  expect(warehouse.totalCount - warehouse.idleCount).toBe(0);
}, 60_000);
