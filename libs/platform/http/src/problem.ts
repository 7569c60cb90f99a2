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

  toProblem(instance?: string): ProblemDetails {
    return {
      type: `${TYPE_BASE}${this.code}`,
      title: this.title,
      status: this.status,
      code: this.code,
      ...(this.detail ? { detail: this.detail } : {}),
      ...(instance ? { instance } : {}),
      ...(this.errors?.length ? { errors: this.errors } : {}),
    };
  }
}

/** A resource of another tenant answers exactly like one that does not exist. */
export function notFound(what: string): ProblemException {
  return new ProblemException(404, 'not-found', 'Not found', `${what} does not exist`);
}
