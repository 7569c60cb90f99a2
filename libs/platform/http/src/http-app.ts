import { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { STATUS_CODES } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply } from 'fastify';
import { ProblemFilter } from './problem.filter';
import { PROBLEM_CONTENT_TYPE, ProblemException } from './problem';
import { BODY_POLICY, BodyPolicy, DEFAULT_BODY_POLICY, NO_BODY_LIMIT } from './api-doc';
import { serviceLogger, serviceNestLogger } from './logging';
import { observeExpressRequests, observeFastifyRequests } from './metrics-http';

export interface HttpAppOptions {
  /** Largest JSON body accepted; larger ones get 413 payload-too-large. */
  bodyLimit?: string;
  logger?: false | ('log' | 'error' | 'warn' | 'debug' | 'verbose')[];
  /** Media types taken as raw bytes (the handler gets a Buffer), with their own size limit (uploads). */
  raw?: { types: readonly string[]; limit: string | number };
  /** Each request's metrics and log line (logging.ts, metrics-http.ts); on by default in a service started by runService. */
  observe?: boolean;
}

/** A Nest HTTP app with the platform's conventions: JSON bodies with a size limit, problem+json errors. */
export async function createHttpApp(module: Type<unknown>, options: HttpAppOptions = {}): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(module, { bodyParser: false, logger: options.logger ?? serviceNestLogger() ?? ['log', 'error', 'warn'] });
  // First middleware: times every request (refused ones too) and runs it in its logging context.
  if (options.observe ?? serviceLogger() !== undefined) observeExpressRequests(app);
  // strict: only objects and arrays; type: JSON only (other types reach the handler without a body).
  app.useBodyParser('json', { limit: options.bodyLimit ?? '64kb', strict: true });
  if (options.raw) app.useBodyParser('raw', { type: [...options.raw.types], limit: options.raw.limit });
  app.useGlobalFilters(new ProblemFilter());
  app.getHttpAdapter().getInstance().disable('x-powered-by');
  app.enableShutdownHooks();
  return app;
}

export interface FastifyHttpAppOptions {
  logger?: false | ('log' | 'error' | 'warn' | 'debug' | 'verbose')[];
  /**
   * Proxies whose X-Forwarded-For the app believes (addresses or CIDRs); without any, a request's
   * address is its socket's, so a client cannot choose its own by sending the header.
   */
  trustedProxies?: string[];
  /** Media types some routes take as raw bytes (the handler gets a Buffer: uploads); each route's @ApiDoc says which and how large. */
  rawTypes?: readonly string[];
  /** Each request's metrics and log line (logging.ts, metrics-http.ts); on by default in a service started by runService. */
  observe?: boolean;
}

/**
 * A Nest HTTP app on Fastify (the gateway), with problem+json errors, including the errors Fastify
 * and Node raise before any Nest handler runs. Each route takes only the body its `@ApiDoc` declares
 * (JSON by default, 1 KiB without a declared body, 64 KiB with one, less for credentials): another
 * media type is a 415 naming the right one, and a larger body a 413, both before the body is read,
 * so no caller can make the gateway buffer, parse or describe megabytes it never wanted.
 */
export async function createFastifyHttpApp(module: Type<unknown>, options: FastifyHttpAppOptions = {}): Promise<NestFastifyApplication> {
  const trustProxy = options.trustedProxies?.length ? options.trustedProxies : false;
  const adapter = new FastifyAdapter({ bodyLimit: NO_BODY_LIMIT, return503OnClosing: true, trustProxy, clientErrorHandler: problemOnClientError });
  const fastify = adapter.getInstance();
  // Runs as Nest registers each route (at init, after this): the route's own body limit.
  fastify.addHook('onRoute', (route) => {
    route.bodyLimit = policyOf(route.config).limitBytes;
  });
  // A callback hook, not an async one: most requests (reads) have no body and pass at once, without a promise each.
  fastify.addHook('preParsing', (request, reply, payload, done) => {
    if (request.is404 || !hasBody(request.headers)) return done(null, payload);
    const policy = policyOf(request.routeOptions.config);
    const type = mediaType(request.headers['content-type']);
    if (policy.credentialFirst && request.headers.authorization === undefined && request.headers['x-api-key'] === undefined)
      return done(refuseUnread(request.raw, reply, new ProblemException(401, 'missing-credentials', 'Unauthorized', 'Send an access token (Authorization: Bearer …) or an API key (X-Api-Key).')));
    if (!type || !policy.types.includes(type)) return done(refuseUnread(request.raw, reply, new ProblemException(415, 'unsupported-media-type', 'Unsupported media type', policy.hint)));
    const length = Number(request.headers['content-length']);
    if (length > policy.limitBytes) return done(refuseUnread(request.raw, reply, new ProblemException(413, 'payload-too-large', 'Request body too large', `This route takes at most ${policy.limitBytes} bytes.`)));
    done(null, payload);
  });
  // bodyParser: false keeps Nest from adding its form parser: Fastify parses JSON, uploads are raw.
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, { bodyParser: false, logger: options.logger ?? serviceNestLogger() ?? ['log', 'error', 'warn'] });
  if (options.observe ?? serviceLogger() !== undefined) observeFastifyRequests(app, fastify);
  if (options.rawTypes?.length) fastify.addContentTypeParser([...options.rawTypes], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.useGlobalFilters(new ProblemFilter());
  app.enableShutdownHooks();
  return app;
}

/** How long a refused request's connection stays open, unread, so the client can read the answer before it closes. */
const REFUSED_LINGER_MS = 2_000;

/**
 * A body refused before it was read is never read: Node would drain it to keep the connection alive
 * (megabytes of garbage through the event loop), and closing at once resets the connection under the
 * client before it reads the answer. So the socket stops reading (TCP pushes back on the sender), the
 * answer goes out with Connection: close, and the socket is destroyed a moment later.
 */
function refuseUnread(req: IncomingMessage, reply: FastifyReply, problem: ProblemException): ProblemException {
  void reply.header('connection', 'close');
  const socket = req.socket;
  // Node drains an unread body once the answer is sent unless the request counts as dumped already.
  (req as IncomingMessage & { _dumped?: boolean })._dumped = true;
  socket.pause();
  // Sending the answer ends the socket's write side; the socket itself closes after the linger time.
  socket.destroySoon = () => {
    socket.end();
    setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
  };
  return problem;
}

function policyOf(config: unknown): BodyPolicy {
  return ((config as Record<string, unknown> | undefined)?.[BODY_POLICY] as BodyPolicy | undefined) ?? DEFAULT_BODY_POLICY;
}

function hasBody(headers: Record<string, string | string[] | undefined>): boolean {
  return headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
}

/** The media type of a Content-Type header, lower-cased, without parameters; undefined when absent. */
function mediaType(header: string | undefined): string | undefined {
  const t = header?.split(';', 1)[0]!.trim().toLowerCase();
  return t || undefined;
}

/** Errors Node's HTTP parser raises before Fastify sees a request (oversized headers, malformed requests, timeouts), as problem+json. */
function problemOnClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, title, detail] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers-too-large', 'Request headers too large', 'The request headers exceed the size the API accepts; send fewer or shorter headers.']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request-timeout', 'Request timeout', 'The request did not arrive in time; send it again.']
        : [400, 'malformed-request', 'Malformed request', 'The request is not valid HTTP.'];
  const body = JSON.stringify(new ProblemException(status, code, title, detail).toProblem());
  if (socket.writable)
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nConnection: close\r\n\r\n${body}`);
  socket.destroy(err);
}
