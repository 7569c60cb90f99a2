import { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { ProblemFilter } from './problem.filter';

export interface HttpAppOptions {
  /** Largest JSON body accepted; larger ones get 413 payload-too-large. */
  bodyLimit?: string;
  logger?: false | ('log' | 'error' | 'warn' | 'debug' | 'verbose')[];
}

/** A Nest HTTP app with the platform's conventions: JSON bodies with a size limit, problem+json errors. */
export async function createHttpApp(module: Type<unknown>, options: HttpAppOptions = {}): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(module, { bodyParser: false, logger: options.logger ?? ['log', 'error', 'warn'] });
  // strict: only objects and arrays; type: JSON only (other types reach the handler without a body).
  app.useBodyParser('json', { limit: options.bodyLimit ?? '64kb', strict: true });
  app.useGlobalFilters(new ProblemFilter());
  app.getHttpAdapter().getInstance().disable('x-powered-by');
  app.enableShutdownHooks();
  return app;
}
