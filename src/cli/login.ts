// Signing the command line in, two ways, both ending in a token the gate minted:
// - loopback (RFC 8252): a one-shot HTTP listener on 127.0.0.1, PKCE S256 and a random state; the
//   browser signs in at the gate and comes back to http://127.0.0.1:<port>/callback with a code;
// - device: the gate gives a short user code, the analyst confirms it in any browser, we poll.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GateClient } from './client.js';
import { CliError, EXIT } from './errors.js';

export interface TokenAnswer {
  token: string;
  tokenType: string;
  expiresAt: string;
  username: string;
}

export interface DeviceAnswer {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete: string;
  expiresIn: number;
  interval: number;
}

export interface LoginIo {
  /** Progress for the person at the terminal (stderr). */
  say(line: string): void;
}

const b64url = (buf: Buffer) => buf.toString('base64url');

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = b64url(randomBytes(32)); // 43 characters, as RFC 7636 asks
  return { verifier, challenge: b64url(createHash('sha256').update(verifier).digest()) };
}

/** Whether a browser could be opened here at all (a desktop session, or macOS/Windows). */
export function canOpenBrowser(env: NodeJS.ProcessEnv = process.env): boolean {
  if (process.platform === 'darwin' || process.platform === 'win32') return true;
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
}

/** Starts the platform's opener; resolves false when it could not be started. */
export function openBrowser(url: string): Promise<boolean> {
  const [cmd, args, verbatim] =
    process.platform === 'darwin'
      ? ['open', [url], false]
      : process.platform === 'win32'
        ? // `start` is a cmd built-in; the quotes keep `&` in the URL away from cmd.
          ['cmd', ['/c', 'start', '""', `"${url}"`], true]
        : ['xdg-open', [url], false];
  return new Promise((resolve) => {
    try {
      const child = spawn(cmd as string, args as string[], { stdio: 'ignore', detached: true, windowsVerbatimArguments: verbatim as boolean });
      child.once('error', () => resolve(false));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}

const page = (title: string, text: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>` +
  '<meta name="viewport" content="width=device-width, initial-scale=1">' +
  '<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}</style></head>' +
  `<body><main><h1>${title}</h1><p>${text}</p></main></body></html>`;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface LoopbackOptions {
  clientName: string;
  /** Open the browser (else only print the address). */
  open: boolean;
  /** How long to wait for the browser to come back. */
  timeoutMs?: number;
}

/** Loopback login: resolves with the token, or throws a CliError (cancelled, timed out, refused). */
export async function loopbackLogin(client: GateClient, io: LoginIo, opts: LoopbackOptions): Promise<TokenAnswer> {
  const { verifier, challenge } = pkcePair();
  const state = b64url(randomBytes(16));
  let settle!: { resolve: (t: TokenAnswer) => void; reject: (e: unknown) => void };
  const done = new Promise<TokenAnswer>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => {}); // awaited below; this only keeps an early failure from counting as unhandled
  let redirectUri = '';
  let finished = false;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    /** Answers the browser; `then` runs once the page has been handed to the socket in full. */
    const reply = (status: number, title: string, text: string, then?: () => void) => {
      if (then) {
        let called = false;
        const once = () => void (called || ((called = true), then()));
        res.once('finish', once);
        res.once('close', once); // the browser went away first
      }
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', connection: 'close' });
      res.end(page(title, text));
    };
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== '/callback') return reply(404, 'Not found', 'This address only receives the gate\'s sign-in answer.');
    // Another page (or an attacker's) cannot complete or cancel our sign-in without our state.
    if (url.searchParams.get('state') !== state) return reply(400, 'Wrong sign-in attempt', 'This answer belongs to another sign-in. Run <code>fdwg login</code> again.');
    if (finished) return reply(409, 'Already done', 'This sign-in is already complete. You can close this tab.');
    finished = true;
    const error = url.searchParams.get('error');
    const code = url.searchParams.get('code');
    if (error || !code) {
      const why = error === 'access_denied' ? 'Sign-in was cancelled.' : `The gate answered: ${escapeHtml(error ?? 'no code')}.`;
      reply(200, 'Not signed in', `${why} You can close this tab.`, () => settle.reject(
        error === 'access_denied'
          ? new CliError(EXIT.refused, 'Sign-in was cancelled in the browser (access denied).', 'access_denied')
          : new CliError(EXIT.error, `The gate did not sign the command line in: ${error ?? 'no code in its answer'}.`, error ?? 'no_code'),
      ));
      return;
    }
    client
      .call<TokenAnswer>('POST', '/api/cli/token', { grantType: 'authorization_code', code, codeVerifier: verifier, redirectUri }, { auth: false })
      .then(
        (token) => {
          reply(200, 'Signed in', `The command line is signed in as ${escapeHtml(token.username)}; you can close this tab.`, () => settle.resolve(token));
        },
        (err: unknown) => {
          reply(200, 'Not signed in', `${escapeHtml(err instanceof Error ? err.message : String(err))} You can close this tab.`, () => settle.reject(err));
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  redirectUri = `http://127.0.0.1:${port}/callback`;
  const authorize = new URL(client.url('/cli/authorize'));
  authorize.search = new URLSearchParams({
    redirect_uri: redirectUri,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    client_name: opts.clientName,
  }).toString();

  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  const timer = setTimeout(
    () => settle.reject(new CliError(EXIT.error, `No answer from the browser within ${Math.round(timeoutMs / 60_000)} minutes; run \`fdwg login\` again.`, 'timeout')),
    timeoutMs,
  );
  try {
    let opened = false;
    if (opts.open && canOpenBrowser()) opened = await openBrowser(authorize.toString());
    if (opened) {
      io.say('Opening your browser to sign in. If it does not open, visit:');
    } else {
      io.say('Open this address in a browser on this computer to sign in:');
    }
    io.say(`  ${authorize.toString()}`);
    if (!opened && process.env.SSH_CONNECTION) io.say('Over ssh, `fdwg login --device` lets you sign in with a browser anywhere.');
    io.say('Waiting for the browser...');
    return await done;
  } finally {
    clearTimeout(timer);
    // Stop listening; let the answer already sent reach the browser, then drop what is left.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const grace = setTimeout(() => server.closeAllConnections(), 1000);
    await closed;
    clearTimeout(grace);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Device login: prints where to go and the code, then polls at the pace the gate asks for. */
export async function deviceLogin(client: GateClient, io: LoginIo, opts: { clientName: string }): Promise<TokenAnswer> {
  const device = await client.call<DeviceAnswer>('POST', '/api/cli/device', { clientName: opts.clientName }, { auth: false });
  io.say(`Open ${device.verificationUri} in any browser, sign in, and confirm this code:`);
  io.say('');
  io.say(`    ${device.userCode}`);
  io.say('');
  io.say(`Or open ${device.verificationUriComplete} (the code is filled in).`);
  io.say(`The code expires in ${Math.round(device.expiresIn / 60)} minutes. Waiting for confirmation...`);
  let interval = Math.max(1, device.interval) * 1000;
  const deadline = Date.now() + device.expiresIn * 1000;
  for (;;) {
    await sleep(interval);
    const res = await client.send('POST', '/api/cli/token', { grantType: 'device_code', deviceCode: device.deviceCode }, { auth: false });
    let body: any;
    try {
      body = await res.json();
    } catch {
      body = undefined;
    }
    if (res.ok) return body as TokenAnswer;
    const code: string | undefined = body?.error?.code;
    if (code === 'authorization_pending') {
      if (Date.now() > deadline) throw new CliError(EXIT.error, 'The code expired before it was confirmed; run `fdwg login --device` again.', 'expired');
      continue;
    }
    if (code === 'slow_down') {
      interval += 5000;
      continue;
    }
    if (code === 'expired') throw new CliError(EXIT.error, 'The code expired before it was confirmed; run `fdwg login --device` again.', 'expired');
    if (code === 'access_denied') throw new CliError(EXIT.refused, 'The code was denied in the browser; the command line is not signed in.', 'access_denied');
    throw client.failure(res, body, 'POST /api/cli/token');
  }
}
