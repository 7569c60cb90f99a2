/**
 * RFC 9457 problem details with a stable machine-readable `code`. Every 4xx/5xx the platform
 * answers is one of these, served as application/problem+json.
 */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  errors?: { path: string; message: string }[];
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
/** Errors listed in one answer at most; the detail says how many more there were. */
export const MAX_PROBLEM_ERRORS = 10;

/** A text cut to `max` characters, with an ellipsis when cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
const TYPE_BASE = 'https://hotdash.dev/problems/';

export class ProblemException extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: ProblemDetails['errors'],
  ) {
    super(detail ?? title);
    this.name = 'ProblemException';
  }

  /** The answer's body, bounded whatever the input was: at most MAX_PROBLEM_ERRORS errors and short texts (a few KiB in all). */
  toProblem(instance?: string): ProblemDetails {
    return {
      type: `${TYPE_BASE}${this.code}`,
      title: this.title,
      status: this.status,
      code: this.code,
      ...(this.detail ? { detail: clip(this.detail, 1000) } : {}),
      ...(instance ? { instance: clip(instance, 200) } : {}),
      ...(this.errors?.length ? { errors: this.errors.slice(0, MAX_PROBLEM_ERRORS).map((e) => ({ path: clip(e.path, 100), message: clip(e.message, 200) })) } : {}),
    };
  }
}

/** A resource of another tenant answers exactly like one that does not exist. */
export function notFound(what: string): ProblemException {
  return new ProblemException(404, 'not-found', 'Not found', `${what} does not exist`);
}
