import { Inject, Injectable } from '@nestjs/common';
import { Principal, TokenService } from '@hotdash/platform-auth';
import { ProblemException } from '@hotdash/platform-http';

/** Where the gateway finds the services behind it (HOTDASH_<SERVICE>_URL, defaults on loopback). */
export const SERVICE_URLS: Record<string, string> = {
  audit: process.env.HOTDASH_AUDIT_URL ?? `http://127.0.0.1:${process.env.HOTDASH_AUDIT_PORT ?? 3107}`,
  provisioning: process.env.HOTDASH_PROVISIONING_URL ?? `http://127.0.0.1:${process.env.HOTDASH_PROVISIONING_PORT ?? 3101}`,
};

/**
 * Calls a service for the caller: each call carries a 60-second internal token minted for that
 * service with the caller's identity and tenant (never a tenant from the request). A service that
 * cannot be reached is a 502 with a stable code.
 */
@Injectable()
export class ServiceClient {
  constructor(@Inject(TokenService) private readonly tokens: TokenService) {}

  async get(service: keyof typeof SERVICE_URLS, path: string, caller: Principal, query: Record<string, string> = {}): Promise<Response> {
    const url = new URL(path, SERVICE_URLS[service]);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const token = await this.tokens.issueInternal(caller, service);
    try {
      return await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      throw new ProblemException(502, 'service-unavailable', 'Service unavailable', `The ${service} service did not answer (${(err as Error).message}); retry in a moment.`);
    }
  }
}
