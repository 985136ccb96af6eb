// One error type for everything the gate refuses on purpose, and the one place that maps it to HTTP.
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export const errorStatus = {
  bad_request: 400,
  unauthenticated: 401,
  csrf_failed: 403,
  forbidden: 403,
  not_admitted: 403,
  agreement_required: 403,
  not_found: 404,
  conflict: 409,
  /** CLI login (device style): the person has not confirmed the code yet; poll again. */
  authorization_pending: 400,
  /** CLI login: confirmed as refused by the person. */
  access_denied: 403,
  /** A one-time code that expired or was already used. */
  expired: 410,
  /** Polling faster than the interval: wait 5 s longer. */
  slow_down: 429,
  rate_limited: 429,
  payload_too_large: 413,
  idp_unavailable: 503,
  db_unavailable: 503,
  internal: 500,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof errorStatus;

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }

  get status(): ContentfulStatusCode {
    return errorStatus[this.code];
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId?: string; details?: Record<string, unknown> };
}

export function errorBody(err: AppError, requestId?: string): ErrorBody {
  return { error: { code: err.code, message: err.message, requestId, ...(err.details ? { details: err.details } : {}) } };
}

// Failures that mean "a database (or the way to it) is not answering", never the request's fault:
// node's socket errors, pg's own timeouts and lost connections, and PostgreSQL's connection
// exceptions (08), shutdowns (57P01-57P03), cancellation by statement_timeout (57014) and lack
// of resources (53).
const UNAVAILABLE_CODES = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|ENOTFOUND|EAI_AGAIN|57P0[123]|57014|08\w{3}|53\w{3})$/;
const UNAVAILABLE_MESSAGES =
  /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Connection ended unexpectedly/;

/** The error and what it wraps: drizzle puts the pg error in `cause`, net puts several in `errors`. */
function* causeChain(err: unknown): Generator<unknown> {
  const seen = new Set<unknown>();
  const queue = [err];
  while (queue.length > 0 && seen.size < 16) {
    const e = queue.shift();
    if (e === null || e === undefined || seen.has(e)) continue;
    seen.add(e);
    yield e;
    if (typeof e === 'object') {
      queue.push((e as { cause?: unknown }).cause);
      const inner = (e as { errors?: unknown }).errors;
      if (Array.isArray(inner)) queue.push(...inner);
    }
  }
}

/** Network-level failures of a database or the issuer are "unavailable", never a bare 500. */
export function classifyUnexpected(err: unknown): AppError {
  for (const e of causeChain(err)) {
    if (e instanceof AppError) return e;
    const code = String((e as { code?: unknown }).code ?? '');
    const msg = e instanceof Error ? e.message : '';
    if (UNAVAILABLE_CODES.test(code) || UNAVAILABLE_MESSAGES.test(msg)) {
      return new AppError('db_unavailable', 'A database the gate needs is not answering. Try again in a minute.');
    }
  }
  return new AppError('internal', 'Something went wrong on our side. The error was logged.');
}
