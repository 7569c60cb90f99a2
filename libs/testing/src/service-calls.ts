import { ANONYMOUS_CALLER, AuthKeys, InternalCaller, TokenService } from '@hotdash/platform-auth';

let tokens: TokenService | undefined;

/** A platform operator as the gateway passes one on (the subject becomes the actor `ops:<subject>`). */
export function opsCaller(subject = 'tests'): InternalCaller {
  return { kind: 'platform', subject, issuedAt: Date.now(), tokenId: 'test' };
}

export const ANONYMOUS: InternalCaller = ANONYMOUS_CALLER;

/** The Authorization header the gateway would send to `service` for `caller` (a fresh 60 s internal token, dev keys). */
export async function internalAuthorization(service: string, caller: InternalCaller): Promise<string> {
  tokens ??= new TokenService(AuthKeys.fromEnv());
  return `Bearer ${await tokens.issueInternalFor(caller, service)}`;
}

/**
 * fetch() as the gateway calls a service behind it: every request carries an internal token for
 * `caller` (default: a platform operator), as services accept nothing else.
 */
export function serviceFetch(service: string, caller: InternalCaller = opsCaller()): (url: string, init?: RequestInit) => Promise<Response> {
  return async (url, init = {}) =>
    fetch(url, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), authorization: await internalAuthorization(service, caller) } });
}
