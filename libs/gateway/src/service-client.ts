import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { InternalCaller, TokenService } from '@hotdash/platform-auth';
import { parseSettings, serviceUrl } from '@hotdash/platform-config';
import { PROBLEM_CONTENT_TYPE, ProblemDetails, ProblemException } from '@hotdash/platform-http';

const settings = parseSettings();
/** Where the gateway finds the services behind it (HOTDASH_<SERVICE>_URL, else loopback on HOTDASH_<SERVICE>_PORT). */
export const SERVICE_URLS: Record<string, string> = {
  audit: serviceUrl(settings, 'audit'),
  quota: serviceUrl(settings, 'quota'),
  provisioning: serviceUrl(settings, 'provisioning'),
  drafts: serviceUrl(settings, 'drafts'),
  knowledge: serviceUrl(settings, 'knowledge'),
};

/**
 * Calls a service for the caller: each call carries a 60-second internal token minted for that
 * service with the caller's identity and tenant (never a tenant from the request). A service that
 * cannot be reached is a 502 with a stable code.
 */
@Injectable()
export class ServiceClient {
  private readonly logger = new Logger('gateway');

  constructor(@Inject(TokenService) private readonly tokens: TokenService) {}

  get(service: keyof typeof SERVICE_URLS, path: string, caller: InternalCaller, query: Record<string, string> = {}): Promise<Response> {
    return this.call(service, 'GET', path, caller, { query });
  }

  /**
   * Any call: the JSON body (already parsed by the gateway) is sent on as JSON; `headers` adds the
   * few the service reads (Idempotency-Key, X-Correlation-Id), never the caller's credential.
   */
  async call(
    service: keyof typeof SERVICE_URLS,
    method: string,
    path: string,
    caller: InternalCaller,
    options: { query?: Record<string, string>; body?: unknown; raw?: { body: Buffer; contentType: string }; headers?: Record<string, string | undefined>; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const url = new URL(path, SERVICE_URLS[service]);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    const token = await this.tokens.issueInternalFor(caller, service);
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    for (const [k, v] of Object.entries(options.headers ?? {})) if (v !== undefined) headers[k] = v;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.raw) headers['content-type'] = options.raw.contentType;
    // The timeout covers the wait for the answer's headers, not the body: an export streams for as long as it takes.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error('no answer within 30 s')), 30_000);
    try {
      const body = options.raw ? new Uint8Array(options.raw.body) : options.body === undefined ? undefined : JSON.stringify(options.body);
      // The caller's signal (a stream whose client left) ends the call, body included.
      const signal = options.signal ? AbortSignal.any([abort.signal, options.signal]) : abort.signal;
      return await fetch(url, { method, headers, body, signal });
    } catch (err) {
      this.logger.warn(`${method} ${service}${path}: ${(err as Error).message}`);
      throw new ProblemException(502, 'service-unavailable', 'Service unavailable', 'A service behind the gateway did not answer; retry in a moment.');
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Only plain string query parameters go on; the service validates them (unknown ones are 400 there). */
export function plainQuery(q: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (q && typeof q === 'object') for (const [k, v] of Object.entries(q)) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * Sends a service's answer back as it is: status, content type, body (streamed). A problem+json
 * error is re-issued as the gateway's own: its `instance` is the public path, never the service's
 * internal one.
 */
export async function passThrough(reply: FastifyReply, call: Promise<Response>): Promise<void> {
  const res = await call;
  if (isProblem(res.headers.get('content-type'))) {
    const retryAfter = res.headers.get('retry-after');
    if (retryAfter) void reply.header('retry-after', retryAfter);
    await sendProblem(reply, res.status, await res.text());
    return;
  }
  for (const h of ['content-type', 'content-disposition', 'location', 'retry-after']) {
    const v = res.headers.get(h);
    if (v) void reply.header(h, v);
  }
  void reply.status(res.status);
  await reply.send(res.body ? Readable.fromWeb(res.body as ReadableStream) : undefined);
}

/** Sends an answer kept for idempotent replay (or just made), marking a replay. */
export async function sendStored(reply: FastifyReply, r: { status: number; contentType: string | null; body: string; replayed: boolean }): Promise<void> {
  if (r.replayed) void reply.header('Idempotent-Replayed', 'true');
  if (isProblem(r.contentType)) return sendProblem(reply, r.status, r.body);
  void reply.status(r.status);
  if (r.contentType) void reply.header('content-type', r.contentType);
  await reply.send(r.body === '' ? undefined : r.body);
}

const isProblem = (contentType: string | null): boolean => contentType?.startsWith(PROBLEM_CONTENT_TYPE) === true;

/** A service's problem+json as the gateway's own: same status, code and texts, the public path as its instance. */
async function sendProblem(reply: FastifyReply, status: number, body: string): Promise<void> {
  let p: Partial<ProblemDetails> = {};
  try {
    p = JSON.parse(body) as Partial<ProblemDetails>;
  } catch {
    // a service's problem is always JSON; an unreadable one keeps its status with a generic text
  }
  const problem = new ProblemException(status, p.code ?? 'service-error', p.title ?? 'Error', p.detail, p.errors).toProblem(reply.request.url.split('?', 1)[0]);
  await reply.status(status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}
