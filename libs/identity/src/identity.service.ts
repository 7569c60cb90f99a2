import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';
import { OperatorRole, TenantId } from '@hotdash/contracts';
import {
  AuthError,
  DECOY_PASSWORD_HASH,
  emailHash,
  newTenantSecret,
  Principal,
  RevocationList,
  tenantOfSecret,
  TokenService,
  tokenHash,
  verifyPassword,
} from '@hotdash/platform-auth';
import { FieldCipher } from '@hotdash/platform-crypto';
import { ControlDatabase, newId, TenantDatabase, TenantNotPlacedError } from '@hotdash/platform-db';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';

/** Refresh tokens: `hdr_<tenant id>.<256 random bits>`; the prefix lets secret scanners recognise them. */
export const REFRESH_PREFIX = 'hdr_';
const SESSION_LIFETIME_MS = 30 * 24 * 3600_000;
const REFRESH_IDLE_MS = 14 * 24 * 3600_000;

export const loginBody = z
  .object({
    tenant: z.string().min(1).max(64),
    email: z.string().min(3).max(254),
    password: z.string().min(1).max(200),
  })
  .strict();
export const refreshBody = z.object({ refreshToken: z.string().min(1).max(300) }).strict();

export interface TokenPair {
  tokenType: 'Bearer';
  accessToken: string;
  /** Seconds the access token is valid. */
  expiresIn: number;
  refreshToken: string;
  refreshExpiresAt: string;
  tenantId: string;
  userId: string;
  role: OperatorRole;
}

export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}

export interface MeDto {
  tenantId: string;
  userId: string;
  email: string;
  displayName: string | null;
  role: OperatorRole;
}

type RefreshOutcome =
  | { kind: 'invalid' }
  | { kind: 'reused' }
  | { kind: 'ok'; sessionId: string; userId: string; role: OperatorRole; refreshToken: string; expiresAt: Date };

/**
 * Login, refresh-token rotation with reuse detection, logout, and who-am-I. Users belong to their
 * tenant's shard; a login names the tenant by its slug, a refresh token carries its tenant id.
 */
@Injectable()
export class IdentityService {
  constructor(
    @Inject(ControlDatabase) private readonly control: ControlDatabase,
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(RevocationList) private readonly revocations: RevocationList,
    @Inject(FieldCipher) private readonly cipher: FieldCipher,
  ) {}

  /** Tenant slug, e-mail and password → an access token and a refresh token. Every failure looks the same. */
  async login(body: unknown, client: ClientInfo): Promise<TokenPair> {
    const input = parseInput(loginBody, body);
    const rows = await this.control.client.$queryRaw<{ id: TenantId; status: string }[]>`select id::text, status from tenants where slug = ${input.tenant.toLowerCase()}`;
    const tenant = rows[0] && ['active', 'suspended'].includes(rows[0].status) ? rows[0] : undefined;
    const user = tenant
      ? (
          await this.db.withTenant(tenant.id, (tx) =>
            tx.$queryRaw<{ id: string; role: OperatorRole; status: string; password_hash: string | null }[]>`
              select id::text, role, status, password_hash from users where email_hash = ${emailHash(tenant.id, input.email)}`,
          )
        )[0]
      : undefined;
    // The password is checked even when there is no such user, so a wrong address takes as long as a wrong password.
    const ok = await verifyPassword(input.password, user?.password_hash ?? DECOY_PASSWORD_HASH);
    if (!tenant || !user || user.status !== 'active' || !user.password_hash || !ok) throw new AuthError('invalid-credentials');

    const sessionId = newId();
    const refreshToken = newTenantSecret(tenant.id, REFRESH_PREFIX);
    const now = Date.now();
    const sessionExpires = new Date(now + SESSION_LIFETIME_MS);
    const refreshExpires = new Date(now + REFRESH_IDLE_MS);
    await this.db.withTenant(tenant.id, async (tx) => {
      await tx.$executeRaw`insert into auth_sessions (id, tenant_id, user_id, expires_at, ip, user_agent)
        values (${sessionId}::uuid, ${tenant.id}::uuid, ${user.id}::uuid, ${sessionExpires}, ${client.ip}, ${client.userAgent?.slice(0, 500) ?? null})`;
      await tx.$executeRaw`insert into refresh_tokens (id, tenant_id, session_id, token_hash, status, expires_at)
        values (${newId()}::uuid, ${tenant.id}::uuid, ${sessionId}::uuid, ${tokenHash(refreshToken)}, 'active', ${refreshExpires})`;
    });
    return this.pair(tenant.id, user.id, user.role, sessionId, refreshToken, refreshExpires);
  }

  /**
   * A refresh token → a new access token and a new refresh token; the old one is spent. Presenting a
   * spent one again means two parties hold it: the whole session ends, at once.
   */
  async refresh(body: unknown): Promise<TokenPair> {
    const { refreshToken } = parseInput(refreshBody, body);
    const tenantId = tenantOfSecret(refreshToken, REFRESH_PREFIX);
    if (!tenantId) throw new AuthError('invalid-refresh-token');
    let outcome: RefreshOutcome;
    try {
      outcome = await this.db.withTenant(tenantId, async (tx): Promise<RefreshOutcome> => {
        const [row] = await tx.$queryRaw<
          { id: string; status: string; expires_at: Date; session_id: string; user_id: string; revoked_at: Date | null; session_expires: Date; role: OperatorRole; user_status: string }[]
        >`select rt.id::text, rt.status, rt.expires_at, s.id::text as session_id, s.user_id::text, s.revoked_at, s.expires_at as session_expires,
            u.role, u.status as user_status
          from refresh_tokens rt join auth_sessions s on s.id = rt.session_id join users u on u.id = s.user_id
          where rt.token_hash = ${tokenHash(refreshToken)} for update of rt, s`;
        if (!row) return { kind: 'invalid' };
        const endSession = async (reason: 'reuse' | 'user-removed') => {
          // The marker first: the session's access tokens stop working even if this commit fails.
          await this.revocations.sessionEnded(tenantId, row.session_id);
          await tx.$executeRaw`update auth_sessions set revoked_at = now(), revoked_reason = ${reason} where id = ${row.session_id}::uuid and revoked_at is null`;
          await tx.$executeRaw`update refresh_tokens set status = 'revoked' where session_id = ${row.session_id}::uuid and status = 'active'`;
        };
        if (row.status === 'rotated') {
          if (!row.revoked_at) await endSession('reuse');
          return { kind: 'reused' };
        }
        const now = Date.now();
        if (row.status !== 'active' || row.revoked_at || row.expires_at.getTime() <= now || row.session_expires.getTime() <= now) return { kind: 'invalid' };
        if (row.user_status !== 'active') {
          await endSession('user-removed');
          return { kind: 'invalid' };
        }
        const next = newTenantSecret(tenantId, REFRESH_PREFIX);
        const expiresAt = new Date(Math.min(now + REFRESH_IDLE_MS, row.session_expires.getTime()));
        await tx.$executeRaw`update refresh_tokens set status = 'rotated', used_at = now() where id = ${row.id}::uuid`;
        await tx.$executeRaw`insert into refresh_tokens (id, tenant_id, session_id, token_hash, status, expires_at)
          values (${newId()}::uuid, ${tenantId}::uuid, ${row.session_id}::uuid, ${tokenHash(next)}, 'active', ${expiresAt})`;
        return { kind: 'ok', sessionId: row.session_id, userId: row.user_id, role: row.role, refreshToken: next, expiresAt };
      });
    } catch (err) {
      if (err instanceof TenantNotPlacedError) throw new AuthError('invalid-refresh-token');
      throw err;
    }
    if (outcome.kind === 'reused') throw new AuthError('refresh-token-reused');
    if (outcome.kind === 'invalid') throw new AuthError('invalid-refresh-token');
    return this.pair(tenantId, outcome.userId, outcome.role, outcome.sessionId, outcome.refreshToken, outcome.expiresAt);
  }

  /** Ends the caller's session: its refresh tokens and, at once, its access tokens. */
  async logout(p: Principal): Promise<void> {
    if (p.kind !== 'user' || !p.sessionId) throw new ProblemException(400, 'not-a-session', 'Not a login session', 'API keys have no session to end; revoke the key instead.');
    const sessionId = p.sessionId;
    await this.db.withTenant(p.tenantId, async (tx) => {
      await this.revocations.sessionEnded(p.tenantId, sessionId);
      await tx.$executeRaw`update auth_sessions set revoked_at = now(), revoked_reason = 'logout' where id = ${sessionId}::uuid and user_id = ${p.subject}::uuid and revoked_at is null`;
      await tx.$executeRaw`update refresh_tokens set status = 'revoked' where session_id = ${sessionId}::uuid and status = 'active'`;
    });
  }

  /** The database's word on a principal (Redis markers' fallback): user active with the token's role, session not ended. */
  async stillValid(p: Principal): Promise<boolean> {
    if (p.kind !== 'user') return true;
    const [row] = await this.db.withTenant(p.tenantId, (tx) =>
      tx.$queryRaw<{ status: string; role: string; revoked_at: Date | null }[]>`
        select u.status, u.role, s.revoked_at from users u left join auth_sessions s on s.id = ${p.sessionId}::uuid and s.user_id = u.id
        where u.id = ${p.subject}::uuid`,
    );
    return !!row && row.status === 'active' && row.role === p.role && row.revoked_at === null;
  }

  /** The calling user's own profile. */
  async me(p: Principal): Promise<MeDto> {
    if (p.kind !== 'user') throw notFound('user');
    const [row] = await this.db.withTenant(p.tenantId, (tx) =>
      tx.$queryRaw<{ id: string; email_enc: string; display_name: string | null; role: OperatorRole }[]>`
        select id::text, email_enc, display_name, role from users where id = ${p.subject}::uuid and status = 'active'`,
    );
    if (!row) throw notFound('user');
    return { tenantId: p.tenantId, userId: row.id, email: await this.cipher.decrypt(p.tenantId, 'users.email', row.email_enc), displayName: row.display_name, role: row.role };
  }

  private async pair(tenantId: TenantId, userId: string, role: OperatorRole, sessionId: string, refreshToken: string, refreshExpires: Date): Promise<TokenPair> {
    const accessToken = await this.tokens.issueAccess({ kind: 'user', tenantId, subject: userId, role, sessionId, scopes: ['*'] });
    return { tokenType: 'Bearer', accessToken, expiresIn: this.tokens.accessTtlSeconds, refreshToken, refreshExpiresAt: refreshExpires.toISOString(), tenantId, userId, role };
  }
}
