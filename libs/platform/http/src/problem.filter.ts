import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { Observable, throwError } from 'rxjs';
import type { Request, Response } from 'express';
import { isDatabaseContention, isStoreUnavailable } from '@hotdash/platform-config';
import { PROBLEM_CONTENT_TYPE, ProblemException } from './problem';
import { Metrics } from './metrics';

interface BodyParserError {
  type?: string;
  status?: number;
  expose?: boolean;
  limit?: number;
}

/** Maps every HTTP error to problem+json: ours as they are, body-parser's and Nest's to stable codes, the rest to 500. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    // Event handlers of a hybrid app inherit this filter: hand their errors back untouched, so the
    // event transport can retry and dead-letter with the real error.
    if (host.getType() !== 'http') return throwError(() => exception);
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request>();
    const problem = this.toProblem(exception).toProblem(req.originalUrl);
    // A 503 is a dependency out for the moment (a store, Redis for idempotency keys): one line, no stack.
    // The path without its query string: a query may hold what a log must not (a search, an address).
    const path = req.originalUrl.split('?', 1)[0];
    if (problem.status === 503) this.logger.warn(`${req.method} ${path}: 503 ${(exception as Error)?.message ?? String(exception)}`);
    else if (problem.status >= 500) this.logger.error(`${req.method} ${path}: ${(exception as Error)?.stack ?? String(exception)}`);
    // Refusals by a limit (the gateway's rate and in-flight limits, quota's reservations), per tenant: the principal the guard set.
    if (problem.status === 429) Metrics.refusal((req as { principal?: { tenantId?: string } }).principal?.tenantId, refusalKind(problem.code), problem.code);
    if (problem.code === 'store-unavailable' || problem.code === 'database-busy') res.header('retry-after', '2');
    res.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  }

  private toProblem(e: unknown): ProblemException {
    return problemOf(e);
  }
}

function refusalKind(code: string): 'rate-limit' | 'concurrency' | 'quota' {
  return code.includes('quota') ? 'quota' : code.includes('in-flight') || code.includes('concurren') ? 'concurrency' : 'rate-limit';
}

/** Fastify's own request errors (body parsing, before any Nest handler): their codes. */
const FASTIFY_ERRORS: Record<string, () => ProblemException> = {
  FST_ERR_CTP_INVALID_JSON_BODY: () => new ProblemException(400, 'malformed-json', 'Malformed JSON', 'The request body is not valid JSON.'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new ProblemException(400, 'invalid-body', 'Invalid request body', 'The request body must be a JSON object, sent with Content-Type: application/json.'),
  FST_ERR_CTP_BODY_TOO_LARGE: () => new ProblemException(413, 'payload-too-large', 'Request body too large', 'The request body exceeds the size this route accepts.'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new ProblemException(415, 'unsupported-media-type', 'Unsupported media type', 'Send the body as application/json.'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new ProblemException(400, 'invalid-body', 'Invalid request body', 'The Content-Length does not match the body.'),
};

/** Any error as the problem the platform answers with: ours as they are, framework errors by stable codes, the rest 500. */
export function problemOf(e: unknown): ProblemException {
  if (e instanceof ProblemException) return e;
  const fastify = FASTIFY_ERRORS[(e as { code?: string })?.code ?? ''];
  if (fastify) return fastify();
  if ((e as { code?: string })?.code === 'FST_ERR_BAD_URL') return new ProblemException(400, 'invalid-url', 'Invalid URL', 'The request URL is malformed.');
  if (isStoreUnavailable(e))
    return new ProblemException(503, 'store-unavailable', 'Service unavailable', 'A store the platform depends on is unreachable for the moment; nothing was changed. Retry in a few seconds.');
  // Contention (a lock not had in time, the embedded database's wait for its turn, a serialization
  // failure, a deadlock), not the request's own fault: its transaction was rolled back.
  if (isDatabaseContention(e))
    return new ProblemException(
      503,
      'database-busy',
      'Database busy',
      'The database could not serve this request in time: another transaction held what it needed, and the request’s transaction was rolled back. Retry in a few seconds.',
    );
  if ((e as { name?: string })?.name === 'TenantNotWritableError')
    return new ProblemException(423, 'tenant-suspended', 'Tenant suspended', (e as Error).message);
  const bp = (e as { cause?: BodyParserError })?.cause ?? (e as BodyParserError);
  if (bp?.type === 'entity.parse.failed') return new ProblemException(400, 'malformed-json', 'Malformed JSON', 'The request body is not valid JSON.');
  if (bp?.type === 'entity.too.large')
    return new ProblemException(413, 'payload-too-large', 'Request body too large', `The request body exceeds the limit of ${bp.limit ?? 'the configured'} bytes.`);
  if (bp?.type === 'charset.unsupported' || bp?.type === 'encoding.unsupported')
    return new ProblemException(415, 'unsupported-encoding', 'Unsupported body encoding', 'Send the body as UTF-8 JSON.');
  if (e instanceof HttpException) {
    const status = e.getStatus();
    // Nest turns body-parser's SyntaxError (invalid JSON) into a bare BadRequestException.
    if (status === 400 && /JSON|Unexpected token|Unexpected end|position \d+/i.test(e.message))
      return new ProblemException(400, 'malformed-json', 'Malformed JSON', 'The request body is not valid JSON.');
    if (status === 404) return new ProblemException(404, 'route-not-found', 'Not found', 'No such route.');
    if (status === 405) return new ProblemException(405, 'method-not-allowed', 'Method not allowed');
    if (status === 413) return new ProblemException(413, 'payload-too-large', 'Request body too large');
    if (status === 415) return new ProblemException(415, 'unsupported-media-type', 'Unsupported media type', 'Send the body as application/json.');
    if (status < 500) return new ProblemException(status, 'bad-request', e.message);
  }
  return new ProblemException(500, 'internal-error', 'Internal error', 'Something went wrong on our side; retry later. The error is logged.');
}
