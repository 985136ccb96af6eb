// Test files' entry to the harness: a complete gate on this run's shared test cluster.
import { type GateOptions, type TestGate, startGateOn } from './gate-core.js';
import { adminUrl } from './pg.js';

export { analystClient, type GateOptions, type TestGate } from './gate-core.js';

export function startTestGate(opts: GateOptions = {}): Promise<TestGate> {
  return startGateOn(adminUrl(), opts);
}
