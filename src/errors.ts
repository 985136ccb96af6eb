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

/** Network-level failures of a database or the issuer are "unavailable", never a bare 500. */
export function classifyUnexpected(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const code = (err as { code?: string })?.code ?? '';
  const msg = err instanceof Error ? err.message : '';
  if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|57P01|57P03|08\w{3})$/.test(code) || /Connection terminated|connect ECONNREFUSED/.test(msg)) {
    return new AppError('db_unavailable', 'A database the gate needs is not answering. Try again in a minute.');
  }
  return new AppError('internal', 'Something went wrong on our side. The error was logged.');
}
