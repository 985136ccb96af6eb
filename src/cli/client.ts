// The gate's JSON API as the CLI sees it: bearer token, JSON in and out, and every failure turned
// into a CliError with the right exit code and the gate's own explanation.
import { CliError, EXIT, type ExitCode } from './errors.js';

export interface ApiErrorBody {
  error?: { code?: string; message?: string; requestId?: string; details?: Record<string, unknown> };
}

/** How long one call may take before the gate counts as unreachable. */
const TIMEOUT_MS = 30_000;

export class GateClient {
  constructor(
    readonly gate: string,
    private readonly token?: string,
    private readonly userAgent = 'fdwg',
  ) {}

  /** The address of a path under the gate (keeps a path prefix such as https://host/gate). */
  url(pathname: string): string {
    return `${this.gate}${pathname}`;
  }

  async call<T>(method: string, pathname: string, body?: unknown, opts: { auth?: boolean } = {}): Promise<T> {
    const res = await this.send(method, pathname, body, opts);
    const parsed = await readJson(res);
    if (res.ok) return parsed as T;
    throw this.failure(res, parsed as ApiErrorBody | undefined, `${method} ${pathname}`);
  }

  /** The raw response (the device poll reads error codes itself). */
  async send(method: string, pathname: string, body?: unknown, opts: { auth?: boolean } = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.userAgent };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (opts.auth !== false && this.token) headers.authorization = `Bearer ${this.token}`;
    try {
      return await fetch(this.url(pathname), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: 'manual',
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      throw unreachable(this.gate, err);
    }
  }

  /** The CliError for a failed answer (status and the gate's `{ error }` body). */
  failure(res: Response, body: ApiErrorBody | undefined, what: string): CliError {
    const code = body?.error?.code;
    const message = body?.error?.message;
    const ref = body?.error?.requestId ? ` (request id ${body.error.requestId})` : '';
    const said = message ? `${message}${ref}` : `HTTP ${res.status} from ${what}${ref}`;
    const exit = (n: ExitCode, text: string) => new CliError(n, text, code ?? `http_${res.status}`);
    if (res.status === 401 || code === 'unauthenticated') {
      return exit(EXIT.notSignedIn, `Not signed in to ${this.gate}: ${said} Run \`fdwg login\` (or \`fdwg login --device\`).`);
    }
    if (code === 'not_admitted') return exit(EXIT.notAdmitted, `Not admitted: ${said}`);
    if (code === 'agreement_required') {
      return exit(EXIT.agreementRequired, `${said} Read and accept it at ${this.gate}/ (sign in there with the same account), then run the command again.`);
    }
    if (res.status === 503 || res.status === 502 || res.status === 504 || code === 'idp_unavailable' || code === 'db_unavailable') {
      return exit(EXIT.unreachable, `The gate at ${this.gate} cannot serve this right now: ${said}`);
    }
    if (res.status === 403 || res.status === 409) return exit(EXIT.refused, `Refused: ${said}`);
    if (res.status >= 300 && res.status < 400) {
      return exit(EXIT.error, `${what}: the gate answered with a redirect to ${res.headers.get('location') ?? '?'}; is ${this.gate} the gate's address?`);
    }
    if (res.status === 429) return exit(EXIT.error, `${said} Wait a minute and try again.`);
    return exit(EXIT.error, said);
  }
}

async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    if (res.ok) throw new CliError(EXIT.error, `The gate answered ${res.status} with something that is not JSON; is this the gate's address?`);
    return undefined;
  }
}

/** A network failure (refused, unknown host, TLS, timeout) as exit 6, naming its cause. */
export function unreachable(gate: string, err: unknown): CliError {
  if (err instanceof CliError) return err;
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const name = (err as { name?: string })?.name;
  const why =
    name === 'TimeoutError' || name === 'AbortError'
      ? `no answer within ${TIMEOUT_MS / 1000} s`
      : (cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err)));
  return new CliError(EXIT.unreachable, `Cannot reach the gate at ${gate} (${why}). Check --gate / FDWG_GATE_URL and your network.`, 'unreachable');
}
