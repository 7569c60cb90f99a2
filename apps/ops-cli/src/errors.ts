/**
 * Exit codes scripts can trust (also in `hotdash-ops --help` and docs/operations.md). Every other
 * failure maps to one of these; none is ever left to Node's default.
 */
export const ExitCode = {
  /** Done (a dry run: what would be done is possible). */
  OK: 0,
  /** The platform refused or failed: a problem+json answer (its code is printed), a migration run that failed or was interrupted, a dry run that would be refused. */
  REFUSED: 1,
  /** Usage: an unknown command or option, a missing or invalid argument; nothing was sent. */
  USAGE: 2,
  /** Not logged in, the ops session expired or was revoked, or the credential is not a platform operator's: run `hotdash-ops login`. */
  NOT_LOGGED_IN: 3,
  /** The gateway could not be reached (refused, unknown host, no answer in time). */
  UNREACHABLE: 4,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `
Exit codes:
  0  done (a dry run: the change would be accepted)
  1  the platform refused or failed (problem code printed), a migration run failed or was
     interrupted, or a dry run found the change would be refused
  2  usage error: unknown command or option, missing or invalid argument (nothing was sent)
  3  not logged in, ops session expired or revoked, or not a platform operator's token:
     run \`hotdash-ops login <email>\`
  4  the gateway could not be reached: check --gateway / HOTDASH_GATEWAY_URL

Environment:
  HOTDASH_GATEWAY_URL    the gateway (default http://127.0.0.1:3100; --gateway wins)
  HOTDASH_OPS_PASSWORD   the password for \`login\` (otherwise asked for, without echo)
  HOTDASH_OPS_TOKEN      an ops token to use instead of the stored login (automation)
  HOTDASH_PILOT_DB_USER, HOTDASH_PILOT_DB_PASSWORD, HOTDASH_PILOT_KMS_MASTER_KEYS
                         \`imports start\`: the pilot's import role and key-encryption keys (docs/pilot.md)
  XDG_CONFIG_HOME        where the login is kept: $XDG_CONFIG_HOME/hotdash-ops/ (else ~/.config/hotdash-ops/)

With --json every command prints exactly one JSON document on stdout (on failure
{"error": {...}}); progress goes to stderr, and only when stderr is a terminal and --json is not given.
`;

/**
 * Why the command failed, with what to do about it. `code` is the platform's problem code when the
 * platform answered with one, else the CLI's own (usage, not-logged-in, gateway-unreachable, …).
 */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCodeValue,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    /** What to do next. */
    readonly hint?: string,
    /** The HTTP status when the platform answered. */
    readonly status?: number,
    /** Field errors of a problem+json answer or of local validation. */
    readonly errors?: { path: string; message: string }[],
  ) {
    super(detail ?? title);
    this.name = 'CliError';
  }

  toJSON(): Record<string, unknown> {
    return {
      exitCode: this.exitCode,
      code: this.code,
      title: this.title,
      ...(this.status !== undefined ? { status: this.status } : {}),
      ...(this.detail ? { detail: this.detail } : {}),
      ...(this.errors?.length ? { errors: this.errors } : {}),
      ...(this.hint ? { hint: this.hint } : {}),
    };
  }
}

export const usageError = (detail: string, hint?: string, errors?: { path: string; message: string }[]) =>
  new CliError(ExitCode.USAGE, 'usage', 'Usage error', detail, hint ?? 'See `hotdash-ops <command> --help`.', undefined, errors);

export const notLoggedIn = (detail: string, code = 'not-logged-in') => new CliError(ExitCode.NOT_LOGGED_IN, code, 'Not logged in', detail, 'Run `hotdash-ops login <email>` (a platform operator account: `npm run ops:operator -- add <email>`).');
