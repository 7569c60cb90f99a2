import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where `vite build` puts the portal (apps/portal/vite.config.ts): dist/portal at the repository's root. */
export const PORTAL_DIST = resolve(__dirname, '..', '..', '..', 'dist', 'portal');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The portal's pages: scripts and styles from this origin only (no inline script), API calls to
 * this origin, no framing, no Referer leaves with the page's address.
 */
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

/**
 * The web portal (apps/portal, built by `vite build` into dist/portal) served by the gateway at `/`:
 * `/assets/*` are content-hashed, so cached for a year as immutable; `/` and every page of the
 * portal, `/app/*` (its screens: /app/queue, /app/knowledge …), answer the portal's index.html,
 * never cached, so a screen loads on a reload or from a bookmark. The screens live under /app
 * because the API's own paths (/operators, /documents, /usage …) are resources, not pages: no
 * fallback can shadow a route, and an unknown path is the usual 404 problem.
 * Not built: `/` says how to build it (503), the API works as before.
 */
@Injectable()
export class PortalStatic implements OnModuleInit {
  private readonly logger = new Logger('portal');
  private readonly indexFile = join(PORTAL_DIST, 'index.html');

  constructor(@Inject(HttpAdapterHost) private readonly host: HttpAdapterHost) {}

  onModuleInit(): void {
    const fastify = this.host.httpAdapter?.getInstance?.() as FastifyInstance | undefined;
    if (!fastify || typeof fastify.route !== 'function' || typeof fastify.hasRoute !== 'function') return;
    if (fastify.hasRoute({ method: 'GET', url: '/app/*' })) return;
    if (!existsSync(this.indexFile)) this.logger.warn(`the portal is not built (no ${this.indexFile}); npm start and npm test build it`);
    fastify.route({ method: 'GET', url: '/', handler: (req, reply) => this.page(req, reply) });
    fastify.route({ method: 'GET', url: '/assets/*', handler: (req, reply) => this.asset(req, reply) });
    fastify.route({ method: 'GET', url: '/app', handler: (req, reply) => this.page(req, reply) });
    fastify.route({ method: 'GET', url: '/app/*', handler: (req, reply) => this.page(req, reply) });
  }

  private page(_req: FastifyRequest, reply: FastifyReply): FastifyReply {
    // Read per page load (a few hundred bytes): a rebuilt portal is served without a restart.
    const index = isFile(this.indexFile) ? readFileSync(this.indexFile) : undefined;
    if (!index) return reply.code(503).header('content-type', 'text/plain; charset=utf-8').header('cache-control', 'no-store').send('The portal is not built: run `npm start` (or `node apps/portal/scripts/build.mjs`).\n');
    return reply.code(200).headers({ ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }).send(index);
  }

  private asset(req: FastifyRequest, reply: FastifyReply): FastifyReply | void {
    const rel = decodeURIComponent((req.params as { '*': string })['*'] ?? '');
    const file = resolve(PORTAL_DIST, 'assets', rel);
    // Only files inside dist/portal/assets, of a known type.
    if (!file.startsWith(join(PORTAL_DIST, 'assets') + sep) || !TYPES[extname(file)] || !isFile(file)) return reply.callNotFound();
    return reply
      .code(200)
      .headers({ 'content-type': TYPES[extname(file)]!, 'cache-control': 'public, max-age=31536000, immutable', 'x-content-type-options': 'nosniff' })
      .send(readFileSync(file));
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
