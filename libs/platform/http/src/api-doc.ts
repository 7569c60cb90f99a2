import { SetMetadata } from '@nestjs/common';
import type { z } from 'zod';

export const API_DOC = 'hotdash:api-doc';

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
}

/** Describes a route for the OpenAPI document the gateway serves at /openapi.json and /docs. */
export const ApiDoc = (options: ApiDocOptions): MethodDecorator => SetMetadata(API_DOC, options);
