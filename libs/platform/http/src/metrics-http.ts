import type { INestApplication } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { nameRequestRoute } from '@hotdash/platform-telemetry';
import { correlationIdFor, logCompletedRequest, requestLoggingMiddleware } from './logging';
import { Metrics } from './metrics';

/**
 * Every answered request, observed once at the HTTP layer (refusals by guards, 404s and body
 * errors included): its metrics (route template, method, status, duration, tenant) and its one
 * log line. The tenant is the principal the credential named (AuthGuard, InternalAuthGuard), not
 * anything the request says.
 */

interface WithPrincipal {
  principal?: { tenantId?: string };
}

/** An Express app (the services behind the gateway): a first middleware that times the request and runs it in its logging context. */
export function observeExpressRequests(app: INestApplication): void {
  app.use((req: IncomingMessage & WithPrincipal & { route?: { path?: unknown }; baseUrl?: string }, res: ServerResponse, next: () => void) => {
    const started = process.hrtime.bigint();
    const correlationId = correlationIdFor(req);
    res.once('finish', () => {
      const path = typeof req.route?.path === 'string' ? `${req.baseUrl ?? ''}${req.route.path}` : undefined;
      completed(req.method ?? 'GET', path, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9, req.principal?.tenantId, correlationId, req.url ?? '/');
    });
    requestLoggingMiddleware(req, res, next);
  });
}

/** The gateway (Fastify): the logging context from a middleware, the observation from onResponse (where the matched route is known). */
export function observeFastifyRequests(app: INestApplication, fastify: FastifyInstance): void {
  app.use(requestLoggingMiddleware);
  fastify.addHook('onResponse', (request: FastifyRequest & WithPrincipal, reply, done) => {
    const correlationId = correlationIdFor(request.raw);
    completed(request.method, request.routeOptions?.url, reply.statusCode, reply.elapsedTime / 1000, request.principal?.tenantId, correlationId, request.url);
    done();
  });
}

function completed(method: string, route: string | undefined, status: number, seconds: number, tenantId: string | undefined, correlationId: string, path: string): void {
  const template = route ?? 'unmatched';
  // The HTTP server span (tracing on, request sampled) takes the route's name; it ends after this.
  nameRequestRoute(route);
  Metrics.httpRequest({ route: template, method, status, seconds, tenantId });
  logCompletedRequest({ method, route: template, status, durationMs: seconds * 1000, tenantId, correlationId, path });
}
