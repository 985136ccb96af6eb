// The Node gate as a real process (src/node/main.ts under tsx) on a test gate's databases and
// issuer: for what only a process can show (a graceful stop, a SIGKILL in mid-request).
import { type ChildProcess, spawn } from 'node:child_process';
import { SESSION_COOKIE } from '../../src/auth/oidc.js';
import { freePort } from '../../src/dev/net.js';
import type { TestGate } from './gate.js';
import { HttpSession, signIn } from './http-session.js';

export interface GateProcess {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

/** Starts the gate and resolves once /healthz/ready answers 200. */
export async function startGateProcess(gate: TestGate, env: Record<string, string> = {}): Promise<GateProcess> {
  const port = await freePort();
  const url = `http://localhost:${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/node/main.ts'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      PUBLIC_URL: url,
      CONTROL_DATABASE_URL: gate.controlUrl,
      WAREHOUSE_DATABASE_URL: gate.warehouseUrl,
      OIDC_ISSUER: gate.config.oidc.issuer,
      OIDC_CLIENT_ID: gate.config.oidc.clientId,
      OIDC_CLIENT_SECRET: gate.config.oidc.clientSecret,
      SESSION_SECRET: gate.config.sessionSecret,
      ROLE_PREFIX: gate.prefix,
      ANALYST_DB_HOST: gate.config.analystDb.host,
      ANALYST_DB_PORT: String(gate.config.analystDb.port),
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (const until = Date.now() + 30_000; ; ) {
    if ((await fetch(`${url}/healthz/ready`).then((r) => r.status, () => 0)) === 200) break;
    if (child.exitCode !== null || Date.now() > until) {
      if (child.exitCode === null) child.kill('SIGKILL');
      throw new Error(`the gate did not become ready:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, url, output: () => output, exited };
}

/**
 * Request headers for `username` on the gate process at `url`, signed in (on the test gate: the same
 * control database, so the session works there too) with the policy's agreement accepted.
 */
export async function admittedHeaders(gate: TestGate, url: string, username: string, password: string): Promise<Record<string, string>> {
  const session = new HttpSession();
  await signIn(session, gate.url, username, password);
  const headers = { cookie: `${SESSION_COOKIE}=${session.cookie('localhost', SESSION_COOKIE)}`, origin: url, 'content-type': 'application/json' };
  const accepted = await fetch(`${url}/api/agreement`, { method: 'POST', headers, body: JSON.stringify({ version: gate.policy.agreement.version }) });
  if (accepted.status !== 200) throw new Error(`accepting the agreement answered ${accepted.status}: ${await accepted.text()}`);
  return headers;
}
