import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Controller, Get, Header, Inject, Injectable, RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { z } from 'zod';
import { asyncApiDocument } from '@hotdash/contracts';
import { ALLOW, OPS_ROUTE, Public, PUBLIC_ROUTE } from '@hotdash/platform-auth';
import { API_DOC, ApiDocOptions, NOT_IN_API } from '@hotdash/platform-http';

const METHODS: Record<number, string> = { [RequestMethod.GET]: 'get', [RequestMethod.POST]: 'post', [RequestMethod.PUT]: 'put', [RequestMethod.PATCH]: 'patch', [RequestMethod.DELETE]: 'delete' };

const problem = { $ref: '#/components/schemas/Problem' };
const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: problem } } });

/**
 * The gateway's OpenAPI 3.1 document, built from the routes Nest actually serves (so it cannot
 * drift from them): path and method from the router metadata, request schemas from the zod schemas
 * the routes parse (`@ApiDoc`), security and the permission from `@Public`/`@Allow`.
 */
@Injectable()
export class OpenApiDocument {
  private doc: Record<string, unknown> | undefined;

  constructor(
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  get(): Record<string, unknown> {
    return (this.doc ??= this.build());
  }

  private build(): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const wrapper of this.discovery.getControllers()) {
      const cls = wrapper.metatype as (new (...args: unknown[]) => unknown) | undefined;
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!cls || !instance) continue;
      const base = String(Reflect.getMetadata(PATH_METADATA, cls) ?? '');
      for (const name of this.scanner.getAllMethodNames(Object.getPrototypeOf(instance))) {
        const handler = instance[name] as (...args: unknown[]) => unknown;
        const sub = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
        const method = METHODS[Reflect.getMetadata(METHOD_METADATA, handler) as number];
        if (sub === undefined || !method) continue;
        const nestPath = `/${[base, sub].map((p) => p.replace(/^\/|\/$/g, '')).filter(Boolean).join('/')}`;
        if (nestPath.startsWith('/openapi') || nestPath.startsWith('/asyncapi') || nestPath.startsWith('/docs') || this.reflector.getAllAndOverride<boolean>(NOT_IN_API, [handler, cls])) continue;
        const path = nestPath.replace(/:(\w+)/g, '{$1}');
        const doc = Reflect.getMetadata(API_DOC, handler) as ApiDocOptions | undefined;
        const isPublic = this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [handler, cls]) === true || nestPath === '/health';
        const ops = this.reflector.getAllAndOverride<boolean>(OPS_ROUTE, [handler, cls]) === true;
        const permission = this.reflector.getAllAndOverride<string | undefined>(ALLOW, [handler, cls]);
        const declared = doc?.params ? (this.jsonSchema(doc.params) as { properties?: Record<string, unknown> }).properties ?? {} : {};
        const params = [...nestPath.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: declared[m[1]!] ?? { type: 'string', format: 'uuid' } }));
        const query = doc?.query ? this.queryParams(doc.query) : [];
        const status = String(doc?.status ?? (method === 'delete' ? 204 : 200));
        (paths[path] ??= {})[method] = {
          operationId: `${cls.name.replace(/Controller$/, '')}.${name}`,
          summary: doc?.summary ?? name,
          ...(doc?.resource ? { 'x-resource': doc.resource } : {}),
          ...(permission ? { 'x-permission': permission } : {}),
          ...(ops ? { 'x-ops': true, tags: ['ops'] } : {}),
          security: isPublic ? [] : ops ? [{ opsBearer: [] }] : [{ bearer: [] }, { apiKey: [] }],
          parameters: [...params, ...query],
          ...(doc?.body ? { requestBody: { required: true, content: { 'application/json': { schema: z.toJSONSchema(doc.body, { io: 'input', unrepresentable: 'any' }) } } } } : {}),
          ...(doc?.rawBody ? { requestBody: { required: true, content: Object.fromEntries(doc.rawBody.map((t) => [t, { schema: { type: 'string', format: 'binary' } }])) } } : {}),
          responses: {
            [status]: { description: 'Success', ...(doc?.response ? { content: { [doc.mediaType ?? 'application/json']: { schema: this.jsonSchema(doc.response, 'output') } } } : {}) },
            '400': problemResponse('Invalid input'),
            ...(isPublic
              ? {}
              : ops
                ? { '401': problemResponse('Missing or invalid platform operator token'), '403': problemResponse('A tenant credential: ops routes take a platform operator token only (ops-token-required)') }
                : { '401': problemResponse('Missing or invalid credential'), '403': problemResponse('Not allowed, or tenant_mismatch'), '429': problemResponse('Rate limit') }),
            ...(params.length ? { '404': problemResponse('Not found (also: another tenant’s resource)') } : {}),
            // The route's own problems last: its descriptions say more than the common ones.
            ...Object.fromEntries(Object.entries(doc?.problems ?? {}).map(([s, description]) => [s, problemResponse(description)])),
          },
        };
      }
    }
    return {
      openapi: '3.1.0',
      info: { title: 'HotDash Agent Platform API', version: '1', description: 'The public API: every request acts for the tenant of its credential.' },
      servers: [{ url: '/' }],
      paths,
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
          opsBearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A platform operator token from POST /ops/login (ops routes only)' },
        },
        schemas: {
          Problem: {
            type: 'object',
            required: ['type', 'title', 'status', 'code'],
            properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, code: { type: 'string' }, detail: { type: 'string' }, instance: { type: 'string' }, errors: { type: 'array' } },
          },
        },
      },
    };
  }

  private jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): Record<string, unknown> {
    return z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  }

  private queryParams(schema: z.ZodType): unknown[] {
    const json = this.jsonSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
    return Object.entries(json.properties ?? {}).map(([name, s]) => ({ name, in: 'query', required: json.required?.includes(name) ?? false, schema: s }));
  }
}

const UI_DIR = dirname(require.resolve('swagger-ui-dist/package.json'));
const asset = (file: string) => readFileSync(join(UI_DIR, file));

/**
 * /openapi.json and interactive docs at /docs (Swagger UI from the swagger-ui-dist package, served
 * locally), and /asyncapi.json: the events other services consume (contracts' asyncApiDocument).
 */
@Controller()
@Public()
export class OpenApiController {
  private events: Record<string, unknown> | undefined;

  constructor(@Inject(OpenApiDocument) private readonly doc: OpenApiDocument) {}

  @Get('openapi.json')
  openapi(): Record<string, unknown> {
    return this.doc.get();
  }

  @Get('asyncapi.json')
  asyncapi(): Record<string, unknown> {
    return (this.events ??= asyncApiDocument({ version: '1' }));
  }

  @Get('docs')
  @Header('Content-Type', 'text/html; charset=utf-8')
  docs(): string {
    return `<!doctype html><html><head><meta charset="utf-8"><title>HotDash API</title><link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#ui' });</script></body></html>`;
  }

  @Get('docs/swagger-ui.css')
  @Header('Content-Type', 'text/css; charset=utf-8')
  css(): Buffer {
    return asset('swagger-ui.css');
  }

  @Get('docs/swagger-ui-bundle.js')
  @Header('Content-Type', 'application/javascript; charset=utf-8')
  js(): Buffer {
    return asset('swagger-ui-bundle.js');
  }
}
