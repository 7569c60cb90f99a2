import { egressErrorOf } from './egress';
import { ModelError } from './errors';

export interface OpenAiHttpOptions {
  /** Base URL of an OpenAI-compatible API, e.g. `https://api.openai.com/v1`. */
  baseUrl: string;
  apiKey: string;
  /** Time limit of each request, in milliseconds. Default 30 000. */
  timeoutMs?: number;
  /** Tries after the first on 429, 5xx and network errors. Default 3. */
  maxRetries?: number;
  /** First backoff in milliseconds (doubles each try; a Retry-After answer wins, up to 20 s). Default 500. */
  backoffMs?: number;
  /** How requests are sent. Default: the global fetch; a tenant's own endpoint gets createEgressFetch()'s guarded one. */
  fetch?: typeof globalThis.fetch;
}

const RETRYABLE = new Set([408, 409, 429, 500, 502, 503, 504]);

/**
 * One JSON POST to an OpenAI-compatible API with retries and backoff (429, 5xx, network), a time
 * limit per try, and errors that say what to do. Shared by the embeddings and chat adapters.
 */
export async function postJson(options: OpenAiHttpOptions, path: string, body: unknown): Promise<unknown> {
  const url = `${options.baseUrl.replace(/\/+$/, '')}${path}`;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxRetries = options.maxRetries ?? 3;
  const backoffMs = options.backoffMs ?? 500;
  const send = options.fetch ?? fetch;
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await send(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const refused = egressErrorOf(err);
      if (refused) throw new ModelError(refused.code === 'egress-refused' ? 'model-endpoint-refused' : 'model-bad-answer', refused.message, false, { cause: err });
      const timeout = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
      if (attempt < maxRetries) {
        await sleep(backoffMs * 2 ** attempt);
        continue;
      }
      throw timeout
        ? new ModelError('model-timeout', `${url} gave no answer within ${timeoutMs} ms (${attempt + 1} tries)`, true, { cause: err })
        : new ModelError('model-unavailable', `${url} is unreachable (${causeOf(err)}); check the model base URL`, true, { cause: err });
    }
    if (res.ok) {
      try {
        return await res.json();
      } catch (err) {
        const cut = egressErrorOf(err);
        if (cut) throw new ModelError('model-bad-answer', cut.message, false, { cause: err });
        throw new ModelError('model-bad-answer', `${url} answered ${res.status} with a body that is not JSON`, true, { cause: err });
      }
    }
    const text = (await res.text().catch(() => '')).slice(0, 500);
    if (RETRYABLE.has(res.status) && attempt < maxRetries) {
      const retryAfter = Number(res.headers.get('retry-after'));
      await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 20_000) : backoffMs * 2 ** attempt);
      continue;
    }
    const said = messageOf(text);
    if (res.status === 401 || res.status === 403) throw new ModelError('model-auth-failed', `${url} refused the API key (${res.status}: ${said}); check the tenant's or the platform's model key`, false);
    if (res.status === 429) throw new ModelError('model-rate-limited', `${url} is rate limiting (${said}) after ${attempt + 1} tries; retry later`, true);
    if (res.status >= 500) throw new ModelError('model-unavailable', `${url} failed with ${res.status} (${said}) after ${attempt + 1} tries`, true);
    throw new ModelError('model-refused', `${url} refused the request (${res.status}: ${said})`, false);
  }
}

function messageOf(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof j.error?.message === 'string') return j.error.message;
  } catch {
    // not JSON
  }
  return text || 'no message';
}

function causeOf(err: unknown): string {
  let cur: unknown = err;
  for (let i = 0; i < 5 && cur && typeof cur === 'object'; i++) {
    const c = cur as { code?: unknown; cause?: unknown; message?: unknown };
    if (typeof c.code === 'string') return c.code;
    cur = c.cause;
  }
  return err instanceof Error ? err.message : String(err);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
