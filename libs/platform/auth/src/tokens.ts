import { errors, jwtVerify, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import type { JWTPayload, JWTHeaderParameters } from 'jose';
import { OperatorRole, OperatorRoles, parseTenantId, TenantId } from '@hotdash/contracts';
import { newId } from '@hotdash/platform-db';
import { AuthError } from './errors';
import { AuthKeys } from './keys';

export const TOKEN_ISSUER = 'hotdash-gateway';
/** Audience of access tokens: the public API behind the gateway. */
export const ACCESS_AUDIENCE = 'hotdash-api';
/** Audience prefix of internal tokens: `hotdash-internal:<service>`. */
export const INTERNAL_AUDIENCE_PREFIX = 'hotdash-internal:';
/** Audience of platform operators' tokens: the ops routes only (a tenant route never accepts one, nor they a tenant's). */
export const OPS_AUDIENCE = 'hotdash-ops';
const ACCESS_TYP = 'at+jwt';
const INTERNAL_TYP = 'internal+jwt';
const OPS_TYP = 'ops+jwt';
const PLATFORM_OPERATOR = 'platform_operator';
const ALGORITHM = 'EdDSA';

/** Who is calling, for which tenant, with what rights: always from a verified credential, never from the request. */
export interface Principal {
  kind: 'user' | 'api-key';
  tenantId: TenantId;
  /** The user id, or the API key id. */
  subject: string;
  role: OperatorRole;
  /** The login session (refresh-token family) of a user's token; null for API keys. */
  sessionId: string | null;
  /** What an API key may do; users' tokens carry ['*'] (their role decides). */
  scopes: string[];
  /** Milliseconds since the epoch (the `ims` claim: revocations compare at this precision). */
  issuedAt: number;
  tokenId: string;
}

/** A member of the platform's ops team: reaches the ops routes and nothing of a tenant's own API. */
export interface OpsPrincipal {
  kind: 'platform';
  /** The platform operator's id. */
  subject: string;
  issuedAt: number;
  tokenId: string;
}

/** A caller without a credential (sign-up, accepting an invitation), as the gateway passes it on. */
export interface AnonymousCaller {
  kind: 'anonymous';
  subject: 'anonymous';
}

export const ANONYMOUS_CALLER: AnonymousCaller = { kind: 'anonymous', subject: 'anonymous' };

/** Whom an internal call is made for: a tenant's user or key, a platform operator, or an anonymous caller of a public route. */
export type InternalCaller = Principal | OpsPrincipal | AnonymousCaller;

/** The actor id recorded for a caller (`user:…`, `api-key:…`, `ops:…`, `anonymous`). */
export function actorOf(c: InternalCaller): string {
  if (c.kind === 'anonymous') return 'anonymous';
  return `${c.kind === 'platform' ? 'ops' : c.kind}:${c.subject}`;
}

export interface TokenServiceOptions {
  /** Access token lifetime in seconds (default 900: 15 minutes). */
  accessTtlSeconds?: number;
  /** Internal token lifetime in seconds (default 60). */
  internalTtlSeconds?: number;
  /** Allowed clock skew between processes in seconds (default 5). */
  clockToleranceSeconds?: number;
  /** The wall clock in ms used to check expiry (default Date.now; specs move it). */
  now?: () => number;
}

/** A verified token's claims, and (access tokens) the principal made of them once. */
interface Verified {
  claims: Claims;
  principal?: Principal;
}

interface Claims extends JWTPayload {
  tid?: string;
  role: string;
  kind: string;
  sid?: string | null;
  scp?: string[];
  ims: number;
}

/**
 * Signs and verifies the platform's JWTs. One algorithm (EdDSA) is accepted, so `alg: none` and
 * algorithm confusion are refused before any key is looked at; issuer, audience, type, expiry and
 * every claim the platform relies on are required.
 */
export class TokenService {
  readonly accessTtlSeconds: number;
  private readonly internalTtlSeconds: number;
  private readonly clockTolerance: number;
  private readonly now: () => number;
  /**
   * Access and ops tokens this process has verified, by their exact text: a client sends the same
   * token with every request for its whole life, and checking its EdDSA signature again each time
   * was a tenth of the gateway's CPU per request. A hit is the same bytes under the same audience
   * and type, so signature, issuer, audience, type and claims are what was checked; expiry is
   * checked again on every use (an entry also leaves the cache when its token expires). Revocation
   * is not cached here: the gateway asks Redis with every request. Internal tokens are minted per
   * call and are not cached.
   */
  private readonly verified: Record<string, LRUCache<string, Verified>> = {
    [ACCESS_AUDIENCE]: new LRUCache<string, Verified>({ max: 10_000 }),
    [OPS_AUDIENCE]: new LRUCache<string, Verified>({ max: 10_000 }),
  };

  constructor(
    private readonly keys: AuthKeys,
    options: TokenServiceOptions = {},
  ) {
    this.accessTtlSeconds = options.accessTtlSeconds ?? 900;
    this.internalTtlSeconds = options.internalTtlSeconds ?? 60;
    this.clockTolerance = options.clockToleranceSeconds ?? 5;
    this.now = options.now ?? Date.now;
  }

  /**
   * A short-lived access token for the public API. `issuedAtMs` is when the rights it carries were
   * read (default now): revocation markers written after that moment revoke it.
   */
  issueAccess(p: Omit<Principal, 'issuedAt' | 'tokenId'>, issuedAtMs?: number): Promise<string> {
    return this.sign(p, ACCESS_AUDIENCE, ACCESS_TYP, this.accessTtlSeconds, issuedAtMs);
  }

  /** A token for one internal call from the gateway to `service`, carrying the caller's identity and tenant. */
  issueInternal(p: Principal, service: string): Promise<string> {
    return this.sign(p, `${INTERNAL_AUDIENCE_PREFIX}${service}`, INTERNAL_TYP, this.internalTtlSeconds);
  }

  /** A platform operator's token for the ops routes (same lifetime as access tokens; no refresh: they sign in again). */
  issueOps(p: Pick<OpsPrincipal, 'subject'>, issuedAtMs = Date.now()): Promise<string> {
    return this.signClaims(p.subject, { role: PLATFORM_OPERATOR, kind: 'platform', ims: issuedAtMs }, OPS_AUDIENCE, OPS_TYP, this.accessTtlSeconds);
  }

  /** A token for one internal call to `service` made for any caller: a tenant's principal, a platform operator, or anonymous (public routes). */
  issueInternalFor(caller: InternalCaller, service: string): Promise<string> {
    if (caller.kind === 'user' || caller.kind === 'api-key') return this.issueInternal(caller, service);
    const role = caller.kind === 'platform' ? PLATFORM_OPERATOR : 'anonymous';
    return this.signClaims(caller.subject, { role, kind: caller.kind, ims: Date.now() }, `${INTERNAL_AUDIENCE_PREFIX}${service}`, INTERNAL_TYP, this.internalTtlSeconds);
  }

  verifyAccess(token: string): Promise<Principal> {
    const hit = this.verifiedAccess(token);
    if (hit) return Promise.resolve(hit);
    return this.verify(token, ACCESS_AUDIENCE, ACCESS_TYP).then((claims) => this.principalOf(token, claims));
  }

  /**
   * The principal of an access token this process has verified and that has not expired, without a
   * promise (the gateway's hot path); undefined when it must be verified (verifyAccess), which also
   * says why it is refused.
   */
  verifiedAccess(token: string): Principal | undefined {
    const hit = this.verified[ACCESS_AUDIENCE]!.get(token);
    if (!hit?.principal || this.now() / 1000 > hit.claims.exp! + this.clockTolerance) return undefined;
    return hit.principal;
  }

  /** The tenant principal of verified access-token claims, kept with the cache entry (one object per token, frozen: requests share it). */
  private principalOf(token: string, claims: Claims): Principal {
    const entry = this.verified[ACCESS_AUDIENCE]!.get(token, { updateAgeOnGet: false });
    if (entry?.claims !== claims) return tenantPrincipal(claims);
    if (!entry.principal) {
      const p = tenantPrincipal(claims);
      Object.freeze(p.scopes);
      entry.principal = Object.freeze(p);
    }
    return entry.principal;
  }

  verifyOps(token: string): Promise<OpsPrincipal> {
    return this.verify(token, OPS_AUDIENCE, OPS_TYP).then(opsPrincipal);
  }

  /** A tenant principal's internal token (services whose every route acts for a tenant: audit, quota). */
  verifyInternal(token: string, service: string): Promise<Principal> {
    return this.verify(token, `${INTERNAL_AUDIENCE_PREFIX}${service}`, INTERNAL_TYP).then(tenantPrincipal);
  }

  /** Any caller's internal token (services that also serve the ops team or public routes: provisioning). */
  async verifyInternalCaller(token: string, service: string): Promise<InternalCaller> {
    const payload = await this.verify(token, `${INTERNAL_AUDIENCE_PREFIX}${service}`, INTERNAL_TYP);
    if (payload.kind === 'platform') return opsPrincipal(payload);
    if (payload.kind === 'anonymous') {
      if (payload.sub !== 'anonymous' || payload.role !== 'anonymous' || payload.tid !== undefined) throw new AuthError('invalid-token');
      return { kind: 'anonymous', subject: 'anonymous' };
    }
    return tenantPrincipal(payload);
  }

  private sign(p: Omit<Principal, 'issuedAt' | 'tokenId'>, audience: string, typ: string, ttl: number, issuedAtMs = Date.now()): Promise<string> {
    return this.signClaims(p.subject, { tid: p.tenantId, role: p.role, kind: p.kind, sid: p.sessionId, scp: p.scopes, ims: issuedAtMs }, audience, typ, ttl);
  }

  private async signClaims(subject: string, claims: Claims, audience: string, typ: string, ttl: number): Promise<string> {
    const signing = this.keys.signing;
    if (!signing) throw new Error('this process has no signing key (only the gateway signs tokens)');
    return new SignJWT(claims)
      .setProtectedHeader({ alg: ALGORITHM, kid: signing.kid, typ })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(audience)
      .setSubject(subject)
      .setIssuedAt()
      .setExpirationTime(`${ttl}s`)
      .setJti(newId())
      .sign(signing.key);
  }

  private async verify(token: string, audience: string, typ: string): Promise<Claims> {
    // Per audience (each with its one type), by the token's exact text.
    const cache = this.verified[audience];
    const hit = cache?.get(token);
    if (hit) {
      if (this.now() / 1000 > hit.claims.exp! + this.clockTolerance) {
        cache!.delete(token);
        throw new AuthError('token-expired');
      }
      return hit.claims;
    }
    let payload: Claims;
    try {
      ({ payload } = (await jwtVerify(token, (header: JWTHeaderParameters) => this.keyFor(header), {
        algorithms: [ALGORITHM],
        issuer: TOKEN_ISSUER,
        audience,
        typ,
        clockTolerance: this.clockTolerance,
        currentDate: new Date(this.now()),
        requiredClaims: ['sub', 'exp', 'iat', 'jti', 'role', 'kind', 'ims'],
      })) as { payload: Claims });
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw new AuthError('token-expired');
      throw new AuthError('invalid-token');
    }
    if (typeof payload.ims !== 'number' || !Number.isFinite(payload.ims)) throw new AuthError('invalid-token');
    cache?.set(token, { claims: payload }, { ttl: Math.max(1, (payload.exp! + this.clockTolerance) * 1000 - this.now()) });
    return payload;
  }

  private keyFor(header: JWTHeaderParameters) {
    const key = header.kid ? this.keys.verifying.get(header.kid) : undefined;
    if (!key) throw new AuthError('invalid-token');
    return key;
  }
}

/** The tenant principal a verified token carries; any other kind of token is invalid here. */
function tenantPrincipal(payload: Claims): Principal {
  let tenantId: TenantId;
  try {
    tenantId = parseTenantId(payload.tid ?? '');
  } catch {
    throw new AuthError('invalid-token');
  }
  const role = payload.role as OperatorRole;
  const kind = payload.kind;
  if (!OperatorRoles.includes(role) || (kind !== 'user' && kind !== 'api-key')) throw new AuthError('invalid-token');
  const sessionId = typeof payload.sid === 'string' ? payload.sid : null;
  if (kind === 'user' && !sessionId) throw new AuthError('invalid-token');
  const scopes = Array.isArray(payload.scp) && payload.scp.every((s) => typeof s === 'string') ? payload.scp : [];
  return { kind, tenantId, subject: payload.sub!, role, sessionId, scopes, issuedAt: payload.ims, tokenId: payload.jti! };
}

/** The platform operator a verified token carries: no tenant, the platform-operator role. */
function opsPrincipal(payload: Claims): OpsPrincipal {
  if (payload.kind !== 'platform' || payload.role !== PLATFORM_OPERATOR || payload.tid !== undefined) throw new AuthError('invalid-token');
  return { kind: 'platform', subject: payload.sub!, issuedAt: payload.ims, tokenId: payload.jti! };
}
