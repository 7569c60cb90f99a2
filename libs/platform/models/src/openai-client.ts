import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, AuthenticationError, PermissionDeniedError, RateLimitError } from 'openai';
import { egressErrorOf } from './egress';
import { ModelError } from './errors';

export interface OpenAiClientOptions {
  /** Base URL of an OpenAI-compatible API, e.g. `https://api.openai.com/v1`. */
  baseUrl: string;
  apiKey: string;
  /** Time limit of each try, in milliseconds. Default 30 000. */
  timeoutMs?: number;
  /** Tries after the first on 408, 409, 429, 5xx and connection errors (the SDK's backoff, or the answer's Retry-After). Default 3. */
  maxRetries?: number;
  /** How requests are sent. Default: the global fetch; a tenant's own endpoint gets createEgressFetch()'s guarded one. */
  fetch?: typeof globalThis.fetch;
}

/**
 * The official `openai` SDK's client for an OpenAI-compatible API: configurable base URL, the SDK's
 * retries (it honours Retry-After) and time limit per try, requests through the given fetch (the
 * egress guard for a tenant's own endpoint). Nothing is read from OPENAI_* variables.
 */
export function openAiClient(options: OpenAiClientOptions): OpenAI {
  const baseURL = new URL(options.baseUrl).href.replace(/\/+$/, ''); // throws on a malformed URL, at start-up
  return new OpenAI({
    apiKey: options.apiKey,
    baseURL,
    timeout: options.timeoutMs ?? 30_000,
    maxRetries: options.maxRetries ?? 3,
    fetch: sdkFetch(options.fetch ?? globalThis.fetch),
    organization: null,
    project: null,
    webhookSecret: null,
  });
}

/** The error type of the answer {@link sdkFetch} makes of an egress refusal. */
const EGRESS_REFUSED = 'hotdash_egress_refused';

/**
 * The fetch the SDK is given: the caller's, with two adjustments the SDK needs.
 * - An egress refusal (the guard's, before any byte is sent) is answered as a 4xx with
 *   `x-should-retry: false`: the SDK retries connection errors, and a refused address will be refused
 *   again. modelErrorOf turns it back into the refusal.
 * - An abort (the SDK's own time limit) is rethrown as an Error named AbortError of this realm, so
 *   the SDK tells a timeout from a connection failure wherever it runs (under Jest the platform's
 *   DOMException is not an Error of the test's realm, and the SDK would lose its name).
 */
function sdkFetch(base: typeof globalThis.fetch): typeof globalThis.fetch {
  return async (input, init) => {
    try {
      return await base(input, init);
    } catch (err) {
      const refused = egressErrorOf(err);
      if (refused)
        return new Response(JSON.stringify({ error: { type: EGRESS_REFUSED, code: refused.code, message: refused.message } }), {
          status: 421,
          headers: { 'content-type': 'application/json', 'x-should-retry': 'false' },
        });
      if ((err as { name?: unknown })?.name === 'AbortError' && !(err instanceof Error)) throw Object.assign(new Error((err as { message?: string }).message ?? 'aborted'), { name: 'AbortError' });
      throw err;
    }
  };
}

/**
 * What the SDK threw, as a ModelError that says what to do (and never repeats the key): the
 * egress guard's refusal, no answer in time, unreachable, a refused key, rate limited after the
 * SDK's retries, the server failing, or the request refused.
 */
export function modelErrorOf(err: unknown, url: string): ModelError {
  if (err instanceof ModelError) return err;
  const refused = egressErrorOf(err);
  if (refused) return new ModelError(refused.code === 'egress-refused' ? 'model-endpoint-refused' : 'model-bad-answer', refused.message, false, { cause: err });
  if (err instanceof APIConnectionTimeoutError) return new ModelError('model-timeout', `${url} gave no answer in time (after the SDK's retries)`, true, { cause: err });
  if (err instanceof APIConnectionError) return new ModelError('model-unavailable', `${url} is unreachable (${causeOf(err)}); check the model base URL`, true, { cause: err });
  if (err instanceof APIError) {
    const body = err.error as { type?: unknown; code?: unknown; message?: unknown } | undefined;
    if (body?.type === EGRESS_REFUSED && typeof body.message === 'string')
      return new ModelError(body.code === 'egress-refused' ? 'model-endpoint-refused' : 'model-bad-answer', body.message, false, { cause: err });
    const said = messageOf(err);
    if (err instanceof AuthenticationError || err instanceof PermissionDeniedError)
      return new ModelError('model-auth-failed', `${url} refused the API key (${err.status}: ${said}); check the tenant's or the platform's model key`, false, { cause: err });
    if (err instanceof RateLimitError) return new ModelError('model-rate-limited', `${url} is rate limiting (${said}); retry later`, true, { cause: err });
    if (typeof err.status === 'number' && err.status >= 500) return new ModelError('model-unavailable', `${url} failed with ${err.status} (${said})`, true, { cause: err });
    return new ModelError('model-refused', `${url} refused the request (${err.status ?? 'no status'}: ${said})`, false, { cause: err });
  }
  // A 2xx whose body is not the JSON the API answers.
  if (err instanceof SyntaxError) return new ModelError('model-bad-answer', `${url} answered with a body that is not JSON`, true, { cause: err });
  return new ModelError('model-unavailable', `${url}: ${err instanceof Error ? err.message : String(err)}`, true, { cause: err });
}

function messageOf(err: APIError): string {
  const inner = (err.error as { message?: unknown } | undefined)?.message;
  return typeof inner === 'string' && inner ? inner : err.message || 'no message';
}

function causeOf(err: unknown): string {
  let cur: unknown = err;
  for (let i = 0; i < 5 && cur && typeof cur === 'object'; i++) {
    const c = cur as { code?: unknown; cause?: unknown };
    if (typeof c.code === 'string') return c.code;
    cur = c.cause;
  }
  return err instanceof Error ? err.message : String(err);
}
