import { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { ProblemFilter } from './problem.filter';

export interface HttpAppOptions {
  /** Largest JSON body accepted; larger ones get 413 payload-too-large. */
  bodyLimit?: string;
  logger?: false | ('log' | 'error' | 'warn' | 'debug' | 'verbose')[];
  /** Media types taken as raw bytes (the handler gets a Buffer), with their own size limit (uploads). */
  raw?: { types: readonly string[]; limit: string | number };
}

/** A Nest HTTP app with the platform's conventions: JSON bodies with a size limit, problem+json errors. */
export async function createHttpApp(module: Type<unknown>, options: HttpAppOptions = {}): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(module, { bodyParser: false, logger: options.logger ?? ['log', 'error', 'warn'] });
  // strict: only objects and arrays; type: JSON only (other types reach the handler without a body).
  app.useBodyParser('json', { limit: options.bodyLimit ?? '64kb', strict: true });
  if (options.raw) app.useBodyParser('raw', { type: [...options.raw.types], limit: options.raw.limit });
  app.useGlobalFilters(new ProblemFilter());
  app.getHttpAdapter().getInstance().disable('x-powered-by');
  app.enableShutdownHooks();
  return app;
}

export interface FastifyHttpAppOptions {
  /** Largest body accepted, in bytes; larger ones get 413 payload-too-large (default 64 KiB). */
  bodyLimitBytes?: number;
  logger?: false | ('log' | 'error' | 'warn' | 'debug' | 'verbose')[];
  /**
   * Proxies whose X-Forwarded-For the app believes (addresses or CIDRs); without any, a request's
   * address is its socket's, so a client cannot choose its own by sending the header.
   */
  trustedProxies?: string[];
  /** Media types taken as raw bytes (the handler gets a Buffer), with their own size limit (uploads). */
  raw?: { types: readonly string[]; limitBytes: number };
}

/**
 * A Nest HTTP app on Fastify (the gateway): JSON bodies with a size limit, problem+json errors,
 * including the errors Fastify raises before any Nest handler runs (malformed JSON, body too large,
 * unsupported content type).
 */
export async function createFastifyHttpApp(module: Type<unknown>, options: FastifyHttpAppOptions = {}): Promise<NestFastifyApplication> {
  const trustProxy = options.trustedProxies?.length ? options.trustedProxies : false;
  const adapter = new FastifyAdapter({ bodyLimit: options.bodyLimitBytes ?? 64 * 1024, return503OnClosing: true, trustProxy });
  // bodyParser: false keeps Nest from adding its form parser: Fastify parses JSON (and text), other types get 415.
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, { bodyParser: false, logger: options.logger ?? ['log', 'error', 'warn'] });
  if (options.raw) {
    app
      .getHttpAdapter()
      .getInstance()
      .addContentTypeParser([...options.raw.types], { parseAs: 'buffer', bodyLimit: options.raw.limitBytes }, (_req, body, done) => done(null, body));
  }
  app.useGlobalFilters(new ProblemFilter());
  app.enableShutdownHooks();
  return app;
}
