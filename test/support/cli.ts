// The `fdwg` command line as a user runs it: `node bin/fdwg.mjs ...` in a child process with its
// own HOME and XDG_CONFIG_HOME (a temp dir), pointed at a test gate. No vitest imports (benches use it).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const FDWG_BIN = path.resolve('bin/fdwg.mjs');
export const PSQL = '/usr/bin/psql';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A clean environment for one "user": a fresh home directory, the gate's URL, and nothing of the
 * developer's own PostgreSQL or display settings (no DISPLAY: `login` only prints its address).
 */
export function cliEnv(gateUrl: string, home = mkdtempSync(path.join(os.tmpdir(), 'fdwg-home-'))): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(PG|FDWG_|XDG_|DISPLAY$|WAYLAND_DISPLAY$|SSH_)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), FDWG_GATE_URL: gateUrl };
}

/** Runs `fdwg <args>` to the end. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<CliResult> {
  return runProcess(process.execPath, [FDWG_BIN, ...args], env, timeoutMs);
}

/** Runs any program; resolves with its exit code and output (never rejects on a non-zero exit). */
export function runProcess(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: timeoutMs, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number' && !(err as { killed?: boolean }).killed) return reject(err);
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

/** `psql <args>` with the user's environment (reads ~/.pgpass and ~/.pg_service.conf from HOME). */
export function psql(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runProcess(PSQL, ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', ...args], env);
}

/** A long-running `fdwg` (login): read its output as it comes, then wait for its end. */
export interface RunningCli {
  child: ChildProcess;
  /** Resolves with the first match of `re` in stdout + stderr (so far or later). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves when the process ends. */
  done: Promise<CliResult>;
  output(): string;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv): RunningCli {
  const child = spawn(process.execPath, [FDWG_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const changed = () => waiters.forEach((w) => w());
  child.stdout!.setEncoding('utf8').on('data', (d: string) => ((stdout += d), changed()));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => ((stderr += d), changed()));
  const done = new Promise<CliResult>((resolve) => child.once('close', (code) => (resolve({ code, stdout, stderr }), changed())));
  let ended = false;
  void done.then(() => (ended = true));
  return {
    child,
    done,
    output: () => stdout + stderr,
    waitFor(re, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = (stdout + stderr).match(re);
          if (m) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(m);
          } else if (ended) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`fdwg ended (code ${child.exitCode}) before printing ${re}:\n${stdout}${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`fdwg did not print ${re} within ${timeoutMs} ms:\n${stdout}${stderr}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}
