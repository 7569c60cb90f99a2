import { errors, jwtVerify, SignJWT } from 'jose';
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
const ACCESS_TYP = 'at+jwt';
const INTERNAL_TYP = 'internal+jwt';
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

export interface TokenServiceOptions {
  /** Access token lifetime in seconds (default 900: 15 minutes). */
  accessTtlSeconds?: number;
  /** Internal token lifetime in seconds (default 60). */
  internalTtlSeconds?: number;
  /** Allowed clock skew between processes in seconds (default 5). */
  clockToleranceSeconds?: number;
}

interface Claims extends JWTPayload {
  tid: string;
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

  constructor(
    private readonly keys: AuthKeys,
    options: TokenServiceOptions = {},
  ) {
    this.accessTtlSeconds = options.accessTtlSeconds ?? 900;
    this.internalTtlSeconds = options.internalTtlSeconds ?? 60;
    this.clockTolerance = options.clockToleranceSeconds ?? 5;
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

  verifyAccess(token: string): Promise<Principal> {
    return this.verify(token, ACCESS_AUDIENCE, ACCESS_TYP);
  }

  verifyInternal(token: string, service: string): Promise<Principal> {
    return this.verify(token, `${INTERNAL_AUDIENCE_PREFIX}${service}`, INTERNAL_TYP);
  }

  private async sign(p: Omit<Principal, 'issuedAt' | 'tokenId'>, audience: string, typ: string, ttl: number, issuedAtMs = Date.now()): Promise<string> {
    const signing = this.keys.signing;
    if (!signing) throw new Error('this process has no signing key (only the gateway signs tokens)');
    const claims: Claims = { tid: p.tenantId, role: p.role, kind: p.kind, sid: p.sessionId, scp: p.scopes, ims: issuedAtMs };
    return new SignJWT(claims)
      .setProtectedHeader({ alg: ALGORITHM, kid: signing.kid, typ })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(audience)
      .setSubject(p.subject)
      .setIssuedAt()
      .setExpirationTime(`${ttl}s`)
      .setJti(newId())
      .sign(signing.key);
  }

  private async verify(token: string, audience: string, typ: string): Promise<Principal> {
    let payload: Claims;
    try {
      ({ payload } = (await jwtVerify(token, (header: JWTHeaderParameters) => this.keyFor(header), {
        algorithms: [ALGORITHM],
        issuer: TOKEN_ISSUER,
        audience,
        typ,
        clockTolerance: this.clockTolerance,
        requiredClaims: ['sub', 'exp', 'iat', 'jti', 'tid', 'role', 'kind', 'ims'],
      })) as { payload: Claims });
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw new AuthError('token-expired');
      throw new AuthError('invalid-token');
    }
    let tenantId: TenantId;
    try {
      tenantId = parseTenantId(payload.tid);
    } catch {
      throw new AuthError('invalid-token');
    }
    const role = payload.role as OperatorRole;
    const kind = payload.kind;
    if (!OperatorRoles.includes(role) || (kind !== 'user' && kind !== 'api-key')) throw new AuthError('invalid-token');
    const sessionId = typeof payload.sid === 'string' ? payload.sid : null;
    if (kind === 'user' && !sessionId) throw new AuthError('invalid-token');
    if (typeof payload.ims !== 'number' || !Number.isFinite(payload.ims)) throw new AuthError('invalid-token');
    const scopes = Array.isArray(payload.scp) && payload.scp.every((s) => typeof s === 'string') ? payload.scp : [];
    return { kind, tenantId, subject: payload.sub!, role, sessionId, scopes, issuedAt: payload.ims, tokenId: payload.jti! };
  }

  private keyFor(header: JWTHeaderParameters) {
    const key = header.kid ? this.keys.verifying.get(header.kid) : undefined;
    if (!key) throw new AuthError('invalid-token');
    return key;
  }
}
