import type { TenantId } from '@hotdash/contracts';
import { ANONYMOUS_CALLER, AuthKeys, InternalCaller, Principal, TokenService } from '@hotdash/platform-auth';
import { newId } from '@hotdash/platform-db';

let tokens: TokenService | undefined;

/** A platform operator as the gateway passes one on (the subject becomes the actor `ops:<subject>`). */
export function opsCaller(subject = 'tests'): InternalCaller {
  return { kind: 'platform', subject, issuedAt: Date.now(), tokenId: 'test' };
}

export const ANONYMOUS: InternalCaller = ANONYMOUS_CALLER;

/** A signed-in user of tenant `t` with `role`, as the gateway passes one on. */
export function tenantUser(t: TenantId, role: Principal['role'] = 'admin'): InternalCaller {
  return { kind: 'user', tenantId: t, subject: newId(), role, sessionId: newId(), scopes: ['*'], issuedAt: Date.now(), tokenId: newId() };
}

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
