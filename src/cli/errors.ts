// Exit codes: what a script calling `fdwg` can tell apart. Every failure is a CliError with one of
// these and a message that says what to do next.

export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  notSignedIn: 3,
  notAdmitted: 4,
  agreementRequired: 5,
  unreachable: 6,
  refused: 7,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `Exit codes:
  0  done
  1  any other error (bad answer from the gate, timeout waiting for sign-in, ...)
  2  usage: unknown command or option, bad value
  3  not signed in: no token for this gate, or the gate refused it (expired, ended) -> fdwg login
  4  not admitted: you are not a member of the FDWG group
  5  the data-use agreement must be accepted first (at the gate's home page)
  6  the gate or the sign-in service cannot be reached (network error, HTTP 503)
  7  refused: not allowed (HTTP 403) or conflicting with the current state (HTTP 409)`;

export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    /** The gate's error code, when the gate answered. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(EXIT.usage, message, 'usage');
