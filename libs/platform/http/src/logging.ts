import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { format } from 'node:util';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Logger as NestLogger, type LoggerService } from '@nestjs/common';
import { context as otelContext, isSpanContextValid, trace } from '@opentelemetry/api';
import pino, { type DestinationStream, type Level, type Logger as Pino, type LoggerOptions } from 'pino';
import { Logger as NestPinoLogger, PinoLogger } from 'nestjs-pino';
import { readSetting } from '@hotdash/platform-config';
import { tryCurrentTenantContext } from '@hotdash/platform-tenancy';

/**
 * Structured logs (issue 17, item 3): every line one JSON object through pino, with the service,
 * the tenant and correlation of the work it belongs to and, while an OpenTelemetry span is active,
 * its trace and span ids. Nest's Logger calls and the console go through it (nestjs-pino's Logger).
 * No request body, header or query string is ever logged; the paths below are redacted besides,
 * should a header object reach a log call. HOTDASH_LOG_LEVEL and HOTDASH_LOG_FORMAT (json, pretty).
 */

export type LogFormat = 'json' | 'pretty';

/** The request being served (set by the request middleware): its correlation id, for lines logged outside any tenant context. */
interface RequestLogContext {
  correlationId: string;
}
const requestContext = new AsyncLocalStorage<RequestLogContext>();

/** Where pino removes a value should one reach a log call: credentials, cookies, personal fields, bodies. */
export const REDACTED_PATHS = [
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'authorization',
  'cookie',
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'apiKey',
  'body',
  'req.body',
  '*.password',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.apiKey',
  '*.email',
  '*.body',
];

const CORRELATION_ID = /^[\w.:-]{1,100}$/;

const CORRELATION = Symbol('hotdash.correlationId');

/** The request's correlation id: its X-Correlation-Id when a sane one (the same rule as the auth layer), else a new one; the same on every call for a request. */
export function correlationIdFor(req: IncomingMessage): string {
  const marked = req as IncomingMessage & { [CORRELATION]?: string };
  const known = marked[CORRELATION];
  if (known) return known;
  const header = req.headers['x-correlation-id'];
  const id = typeof header === 'string' && CORRELATION_ID.test(header) ? header : randomUUID();
  // The tenant context (TenantContextInterceptor) takes the header: the same id in every line.
  req.headers['x-correlation-id'] = id;
  marked[CORRELATION] = id;
  return id;
}

/** The fields every line carries from where it was logged: tenant, correlation, trace and span. */
export function contextFields(): Record<string, string> {
  const fields: Record<string, string> = {};
  const tenant = tryCurrentTenantContext();
  if (tenant) {
    fields.tenantId = tenant.tenantId;
    fields.correlationId = tenant.correlationId;
  } else {
    const request = requestContext.getStore();
    if (request) fields.correlationId = request.correlationId;
  }
  // @opentelemetry/api alone (no SDK registered) has no active span: no ids, nothing to pay.
  const span = trace.getSpan(otelContext.active());
  if (span) {
    const sc = span.spanContext();
    if (isSpanContextValid(sc)) {
      fields.traceId = sc.traceId;
      fields.spanId = sc.spanId;
    }
  }
  return fields;
}

export interface LoggerSetup {
  service: string;
  level?: Level | 'silent';
  format?: LogFormat;
  /** Where lines go (tests); stdout by default. */
  destination?: DestinationStream;
}

/** A pino logger with the platform's fields, redaction and format. */
export function createPlatformLogger(setup: LoggerSetup): Pino {
  const options: LoggerOptions = {
    level: setup.level ?? 'info',
    base: { service: setup.service },
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin: contextFields,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: pino.stdSerializers.err, req: requestSummary, res: responseSummary },
  };
  const destination = setup.destination ?? (setup.format === 'pretty' ? prettyStream() : undefined);
  return destination ? pino(options, destination) : pino(options);
}

/** pino-pretty, one line per entry (scripts/start.mjs prefixes each with the service): a dev dependency, so JSON when it is not installed. */
function prettyStream(): DestinationStream | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pretty = require('pino-pretty') as (o: Record<string, unknown>) => DestinationStream;
    return pretty({ singleLine: true, colorize: false, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service,context', messageFormat: '{if context}{context}: {end}{msg}', sync: true });
  } catch {
    return undefined;
  }
}

/** A request as a log line may show it: method and path, never its query string, headers or body. */
function requestSummary(req: { method?: string; url?: string }): Record<string, unknown> {
  return { method: req.method, path: req.url?.split('?', 1)[0] };
}

function responseSummary(res: { statusCode?: number }): Record<string, unknown> {
  return { status: res.statusCode };
}

let active: { service: string; root: Pino; nest: NestPinoLogger } | undefined;

// Nest Logger calls made while a service's modules load (a module's forRoot warning, before
// runService runs) are held and written through pino once it is configured, so that every line is
// JSON. A process that never configures logging (specs, tools) gets them on Nest's own logger
// right after its first turn of the event loop.
NestLogger.attachBuffer();
setImmediate(() => {
  if (!active) NestLogger.flush();
});

/**
 * Turns structured logging on for this process (runService, before the app is built): the root
 * logger, Nest's logger over it, and the console routed into it, so every line the service writes
 * is one JSON object (or one pretty line).
 */
export function configureServiceLogging(service: string, env: NodeJS.ProcessEnv = process.env): Pino {
  if (active) return active.root;
  const root = createPlatformLogger({ service, level: readSetting('HOTDASH_LOG_LEVEL', env), format: readSetting('HOTDASH_LOG_FORMAT', env) });
  // nestjs-pino's Logger (Nest's LoggerService) over this root: the app's `new Logger(ctx)` calls land here with their context.
  const nest = new NestPinoLogger(new PinoLogger({ pinoHttp: { logger: root, autoLogging: false } }), {});
  active = { service, root, nest };
  // Nest's static Logger from now on, before any app exists (the app gets it too: createHttpApp),
  // and what was logged while the modules loaded.
  NestLogger.overrideLogger(nest);
  NestLogger.flush();
  routeConsole(root);
  // Node's own output as log lines too: its warnings, and a crash's error before the exit (still exit code 1).
  process.removeAllListeners('warning');
  process.on('warning', (w) => root.warn({ context: 'node', warning: w.name }, w.message));
  process.on('uncaughtException', (err) => {
    root.fatal({ context: 'node', err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    root.fatal({ context: 'node', err: reason instanceof Error ? reason : new Error(String(reason)) }, 'unhandled rejection');
    process.exit(1);
  });
  return root;
}

/** The root logger of this service, when structured logging is on (runService). */
export function serviceLogger(): Pino | undefined {
  return active?.root;
}

/** Nest's logger for this service (app.useLogger), when structured logging is on. */
export function serviceNestLogger(): LoggerService | undefined {
  return active?.nest;
}

/** console.* as log lines: libraries and older code that print keep to the one format. */
function routeConsole(root: Pino): void {
  const console_ = root.child({ context: 'console' });
  const to = (level: 'debug' | 'info' | 'warn' | 'error') => (...args: unknown[]) => console_[level](format(...args));
  console.log = to('info');
  console.info = to('info');
  console.warn = to('warn');
  console.error = to('error');
  console.debug = to('debug');
  console.trace = to('debug');
}

/** Health and metrics requests are logged at debug: probes every few seconds would drown the rest. */
const QUIET_PATHS = /^\/(health(\/ready)?|metrics)(\?|$)/;

export interface CompletedRequest {
  method: string;
  /** The route's template (`/tickets/:id`), or `unmatched`. */
  route: string;
  status: number;
  durationMs: number;
  tenantId?: string;
  correlationId: string;
  path: string;
}

/** The one line a request leaves when it is answered: route template, status, duration, tenant, correlation. */
export function logCompletedRequest(r: CompletedRequest): void {
  const log = active?.root;
  if (!log) return;
  const level = QUIET_PATHS.test(r.path) ? 'debug' : r.status >= 500 ? 'error' : 'info';
  if (!log.isLevelEnabled(level)) return;
  const fields: Record<string, unknown> = { msg: 'request completed', method: r.method, route: r.route, status: r.status, durationMs: Math.round(r.durationMs * 10) / 10, correlationId: r.correlationId };
  if (r.tenantId) fields.tenantId = r.tenantId;
  log[level](fields);
}

/**
 * Runs the rest of a request in its logging context (its correlation id), for Express and for
 * Fastify's middleware alike (raw Node request and response).
 */
export function requestLoggingMiddleware(req: IncomingMessage, _res: ServerResponse, next: () => void): void {
  requestContext.run({ correlationId: correlationIdFor(req) }, next);
}
