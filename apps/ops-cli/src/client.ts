import type { z } from 'zod';
import { CliError, ExitCode, notLoggedIn } from './errors';
import { hintFor } from './hints';

/** How long one request may take: the gateway gives up on a service after 30 s and answers 502. */
const REQUEST_TIMEOUT_MS = 45_000;

interface Problem {
  code?: string;
  title?: string;
  detail?: string;
  status?: number;
  errors?: { path: string; message: string }[];
}

/**
 * The ops API at the gateway, for one caller: every answer is checked against the contracts' zod
 * schema before the CLI believes it; a problem+json answer becomes a CliError with the platform's
 * code and what to do; an unreachable gateway exit code 4; a refused credential exit code 3.
 */
export class OpsClient {
  constructor(
    readonly gateway: string,
    private readonly token?: string,
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {}

  /** `login: true` for POST /ops/login: a 401 there is a wrong e-mail or password (exit 1), not a missing login. */
  async request<S extends z.ZodType>(method: string, path: string, schema: S, options: { body?: unknown; headers?: Record<string, string>; login?: boolean } = {}): Promise<{ status: number; data: z.infer<S> }> {
    const url = new URL(path.replace(/^\//, ''), this.gateway.endsWith('/') ? this.gateway : `${this.gateway}/`);
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json', 'user-agent': 'hotdash-ops', ...options.headers };
    if (this.token && !options.login) headers.authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body), signal: AbortSignal.timeout(this.timeoutMs) });
      text = await res.text();
    } catch (err) {
      throw unreachable(this.gateway, err);
    }
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) throw refusal(res.status, type === 'application/problem+json' && json && typeof json === 'object' ? (json as Problem) : undefined, options.login === true, `${method} ${url.pathname}`);
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      throw new CliError(
        ExitCode.REFUSED,
        'unexpected-answer',
        'Unexpected answer',
        `${method} ${url.pathname} answered ${res.status} with a body this hotdash-ops does not understand: ${parsed.error.issues
          .slice(0, 3)
          .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
          .join('; ')}`,
        'Check that --gateway / HOTDASH_GATEWAY_URL is the HotDash gateway, and that this hotdash-ops is of the same version as the platform.',
        res.status,
      );
    return { status: res.status, data: parsed.data };
  }
}

/** A failed request as the error the user sees. */
export function refusal(status: number, problem: Problem | undefined, login: boolean, what: string): CliError {
  const code = problem?.code ?? 'http-error';
  if (!problem)
    return new CliError(
      ExitCode.REFUSED,
      'unexpected-answer',
      'Unexpected answer',
      `${what} answered ${status} without a problem+json body`,
      status === 404 ? 'Check that --gateway / HOTDASH_GATEWAY_URL is the HotDash gateway (and that this hotdash-ops is of the same version).' : 'Retry; if it persists, check the gateway’s log.',
      status,
    );
  if (status === 401 && !login) {
    const e = notLoggedIn(problem.detail ?? 'The gateway refused the ops token.', code);
    return new CliError(e.exitCode, code, code === 'token-expired' ? 'Ops session expired' : 'Not logged in', problem.detail, e.hint, status);
  }
  if (status === 403 && code === 'ops-token-required')
    return new CliError(ExitCode.NOT_LOGGED_IN, code, 'Not a platform operator token', problem.detail, 'Ops commands take a platform operator’s login, never a tenant’s token: run `hotdash-ops login <email>` with an ops account.', status);
  return new CliError(ExitCode.REFUSED, code, problem.title ?? 'Refused', problem.detail, hintFor(code, problem.detail), status, problem.errors);
}

/** The gateway could not be reached: what the network said, and where to look. */
export function unreachable(gateway: string, err: unknown): CliError {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const reason = e?.name === 'TimeoutError' ? 'no answer in time' : (e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err));
  return new CliError(
    ExitCode.UNREACHABLE,
    'gateway-unreachable',
    'Gateway unreachable',
    `Cannot reach the gateway at ${gateway} (${reason}).`,
    'Check --gateway / HOTDASH_GATEWAY_URL (or the gateway stored by `hotdash-ops login`) and that the gateway is running (GET /health).',
  );
}
