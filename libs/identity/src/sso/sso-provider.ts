import { createHash } from 'node:crypto';
import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import * as oidc from 'openid-client';
import { readSetting } from '@hotdash/platform-config';
import { ProblemException, publicUrl } from '@hotdash/platform-http';
import { createEgressFetch, type GuardedFetch } from '@hotdash/platform-models';

/** Where identity providers send the browser back (registered as the client's redirect URI at the provider). */
export const SSO_CALLBACK_PATH = '/auth/sso/callback';
export const ssoRedirectUri = (): string => publicUrl(SSO_CALLBACK_PATH);

/** What the relying party needs of a tenant's provider: issuer, client id and (when confidential) secret. */
export interface ProviderClient {
  tenantId: string;
  issuer: string;
  clientId: string;
  clientSecret: string | null;
}

/** http:// issuers are accepted only with HOTDASH_SSO_INSECURE_ISSUERS=1 (a local test provider). */
export const insecureIssuersAllowed = (): boolean => readSetting('HOTDASH_SSO_INSECURE_ISSUERS') === '1';

/** Seconds any one call to a provider (discovery, token, keys, user info) may take. */
const PROVIDER_TIMEOUT_S = 10;
/** How long a provider's discovered metadata is reused before it is read again. */
const METADATA_TTL_MS = 10 * 60_000;

/**
 * The relying-party side of OpenID Connect, through `openid-client` (the certified client by the
 * author of `jose` and `oidc-provider`): discovery of each tenant's provider (its metadata checked
 * to name exactly the configured issuer), kept for a few minutes per (tenant, issuer, client,
 * secret), with ID-token signatures checked against the provider's JWKS (`enableNonRepudiationChecks`:
 * besides iss, aud, azp, exp, iat and nonce, which the code grant always checks).
 */
@Injectable()
export class SsoProviders implements OnModuleDestroy {
  private readonly configs = new LRUCache<string, Promise<oidc.Configuration>>({ max: 2_000, ttl: METADATA_TTL_MS });
  private egress: GuardedFetch | undefined;

  async onModuleDestroy(): Promise<void> {
    await this.egress?.close();
  }

  /**
   * An admin types the issuer, and discovery names the other endpoints (token, keys, user info):
   * every request to a provider goes through the egress guard (public addresses only, or what
   * HOTDASH_EGRESS_ALLOW names; never the platform's own services), so a tenant's configuration
   * cannot make the gateway call inside the platform's network. Made on first use.
   */
  private fetch(): GuardedFetch {
    return (this.egress ??= createEgressFetch({ timeoutMs: PROVIDER_TIMEOUT_S * 1_000 }));
  }

  private discover(c: ProviderClient): Promise<oidc.Configuration> {
    const auth = c.clientSecret ? oidc.ClientSecretBasic(c.clientSecret) : oidc.None();
    const execute = [oidc.enableNonRepudiationChecks, ...(insecureIssuersAllowed() ? [oidc.allowInsecureRequests] : [])];
    const guarded = this.fetch();
    return oidc.discovery(new URL(c.issuer), c.clientId, undefined, auth, { execute, timeout: PROVIDER_TIMEOUT_S, [oidc.customFetch]: (url, options) => guarded(url, options as RequestInit) });
  }

  /** The provider's configuration; 502 `sso-provider-unavailable` when it cannot be discovered. */
  async configuration(c: ProviderClient): Promise<oidc.Configuration> {
    const key = [c.tenantId, c.issuer, c.clientId, c.clientSecret ? createHash('sha256').update(c.clientSecret).digest('hex') : ''].join('\n');
    let found = this.configs.get(key);
    if (!found) {
      found = this.discover(c);
      this.configs.set(key, found);
      // A failure is not kept: the next sign-in asks the provider again.
      found.catch(() => this.configs.delete(key));
    }
    try {
      return await found;
    } catch (err) {
      throw new ProblemException(502, 'sso-provider-unavailable', 'Identity provider unavailable', `The identity provider ${c.issuer} could not be discovered: ${reason(err)}.`);
    }
  }

  /** Discovery without the cache (an admin saving a configuration): the provider must answer now. */
  async check(c: ProviderClient): Promise<void> {
    try {
      await this.discover(c);
    } catch (err) {
      throw new ProblemException(422, 'sso-issuer-unreachable', 'Identity provider not reachable', `No OpenID Connect provider answers as ${c.issuer}: ${reason(err)}.`);
    }
  }
}

/** A short, secret-free account of what went wrong with a provider (its message, no stack). */
export function reason(err: unknown): string {
  type Failure = { message?: unknown; error?: unknown; error_description?: unknown; cause?: Failure & { claim?: unknown } };
  const e = err as Failure;
  let text = typeof e.error === 'string' ? `${e.error}${typeof e.error_description === 'string' ? `: ${e.error_description}` : ''}` : typeof e.message === 'string' ? e.message : String(err);
  // openid-client wraps the check that failed (oauth4webapi's, naming the claim: iss, aud, nonce, exp…; never its value).
  const inner = e.cause;
  if (inner && typeof inner.message === 'string' && inner.message !== text) text += `: ${inner.message}`;
  const claim = inner?.cause?.claim ?? inner?.claim;
  if (typeof claim === 'string') text += ` (claim ${claim})`;
  return text.replace(/\s+/g, ' ').slice(0, 200);
}
