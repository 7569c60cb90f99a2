import { applyDecorators, SetMetadata } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { z } from 'zod';

export const API_DOC = 'hotdash:api-doc';

/** Largest JSON body a route takes unless it says otherwise. */
export const JSON_BODY_LIMIT = 64 * 1024;
/** Largest body of a route that takes credentials (login, refresh, reset, invitation): they are a few hundred bytes. */
export const CREDENTIALS_BODY_LIMIT = 4 * 1024;
/** Largest body of a route that declares none (an empty JSON object is tolerated). */
export const NO_BODY_LIMIT = 1024;

export interface ApiDocOptions {
  summary: string;
  /** The JSON body the route parses (its zod schema becomes the request schema). */
  body?: z.ZodType;
  /** The query parameters the route parses. */
  query?: z.ZodType;
  /** What kind of resource the route's `:id` names (the cross-tenant probe creates one per kind). */
  resource?: string;
  /** The success status (default 200). */
  status?: number;
  /** Media types the route takes as its raw body (an upload) instead of JSON. */
  rawBody?: readonly string[];
  /** Largest body the route takes, in bytes: default {@link JSON_BODY_LIMIT} with a JSON body, {@link NO_BODY_LIMIT} without one; required with `rawBody`. */
  bodyLimitBytes?: number;
  /** The path parameters the route parses, when they are not UUIDs (the default for every `:param`). */
  params?: z.ZodObject;
  /** The JSON body of the success answer (for clients generated from the document); with `mediaType` an event stream, the data of its events. */
  response?: z.ZodType;
  /** The success answer's media type when it is not JSON (`text/event-stream`). */
  mediaType?: string;
  /** Problems the route answers besides the common ones: status → what it means, with its codes. */
  problems?: Readonly<Record<number, string>>;
}

/** What a route takes as its body: the media types and the size. Checked before a byte of the body is read. */
export interface BodyPolicy {
  types: readonly string[];
  limitBytes: number;
  /** What to send instead, for the 415 answer. */
  hint: string;
  /** The route never serves anonymous callers: a request without any credential is refused before its body is read (uploads). */
  credentialFirst?: boolean;
}

/** The key of the route's body policy in its Fastify route config. */
export const BODY_POLICY = 'hotdashBody';

/** The policy of a route without `@ApiDoc` (health, documents of the API): no body beyond an empty JSON object. */
export const DEFAULT_BODY_POLICY: BodyPolicy = { types: ['application/json'], limitBytes: NO_BODY_LIMIT, hint: 'This route takes no body (or an empty JSON object).' };

export function bodyPolicyOf(options: ApiDocOptions): BodyPolicy {
  if (options.rawBody) {
    if (options.bodyLimitBytes === undefined) throw new Error(`@ApiDoc("${options.summary}"): a rawBody route must give bodyLimitBytes`);
    return { types: options.rawBody, limitBytes: options.bodyLimitBytes, hint: `Send the document itself as the body, with Content-Type one of: ${options.rawBody.join(', ')}.`, credentialFirst: true };
  }
  if (options.body) return { types: ['application/json'], limitBytes: options.bodyLimitBytes ?? JSON_BODY_LIMIT, hint: 'Send the body as a JSON object, with Content-Type: application/json.' };
  return { ...DEFAULT_BODY_POLICY, limitBytes: options.bodyLimitBytes ?? NO_BODY_LIMIT };
}

/**
 * Describes a route for the OpenAPI document the gateway serves at /openapi.json and /docs, and
 * declares what body it takes: the Fastify app refuses any other media type (415) and any larger
 * body (413) before reading it (see createFastifyHttpApp).
 */
export const ApiDoc = (options: ApiDocOptions): MethodDecorator =>
  applyDecorators(SetMetadata(API_DOC, options), RouteConfig({ [BODY_POLICY]: bodyPolicyOf(options) }));

export const NOT_IN_API = 'hotdash:not-in-api';
/** A route that is not part of the API (a page, its script): left out of the OpenAPI document. */
export const NotInApi = (): MethodDecorator & ClassDecorator => SetMetadata(NOT_IN_API, true);
