import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { z } from 'zod';
import { ACCESS_IP_FIELD, AccessEvents, OperatorRole, TenantId } from '@hotdash/contracts';
import {
  AuthError,
  DECOY_PASSWORD_HASH,
  emailHash,
  hashPassword,
  newTenantSecret,
  Principal,
  RevocationStore,
  tenantOfSecret,
  TokenService,
  tokenHash,
  verifyPasswordForUpgrade,
} from '@hotdash/platform-auth';
import { FieldCipher } from '@hotdash/platform-crypto';
import { newId, TenantDatabase, TenantDirectory, TenantNotPlacedError, TenantTx } from '@hotdash/platform-db';
import { MailOutbox, publishInTx } from '@hotdash/platform-messaging';
import { passwordSignInDisabled, ssoOnly } from './sso/sso-config';
import { notFound, parseInput, ProblemException, PublicLinks } from '@hotdash/platform-http';

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
export const resetRequestBody = z.object({ tenant: z.string().min(1).max(64), email: z.string().min(3).max(254) }).strict();
export const resetConfirmBody = z
  .object({
    token: z.string().min(40).max(300),
    password: z.string().min(12, 'password must be at least 12 characters').max(200),
  })
  .strict();
/** Password-reset tokens: `hdp_<tenant id>.<256 random bits>`, valid for an hour, once. */
export const RESET_PREFIX = 'hdp_';
const RESET_TTL_MS = 3600_000;

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

/** A session just opened: its id and first refresh token. */
export interface NewSession {
  sessionId: string;
  refreshToken: string;
  refreshExpires: Date;
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
  | { kind: 'ok'; sessionId: string; userId: string; role: OperatorRole; refreshToken: string; expiresAt: Date; readAt: number };

/**
 * Login, refresh-token rotation with reuse detection, logout, and who-am-I. Users belong to their
 * tenant's shard; a login names the tenant by its slug, a refresh token carries its tenant id.
 */
@Injectable()
export class IdentityService {
  constructor(
    @Inject(TenantDirectory) private readonly directory: TenantDirectory,
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(RevocationStore) private readonly revocations: RevocationStore,
    @Inject(FieldCipher) private readonly cipher: FieldCipher,
    @Inject(MailOutbox) private readonly mail: MailOutbox,
  ) {}

  /** Tenant slug, e-mail and password → an access token and a refresh token. Every failure looks the same. */
  async login(body: unknown, client: ClientInfo): Promise<TokenPair> {
    const input = parseInput(loginBody, body);
    const found = await this.directory.bySlug(input.tenant.toLowerCase(), { maxAgeMs: 0 });
    const tenant = found && ['active', 'suspended'].includes(found.status) ? { id: found.id as TenantId } : undefined;
    // The token's rights are those read now: a role change marked after this moment revokes it.
    const readAt = Date.now();
    const rows = tenant
      ? await this.db.withTenant(tenant.id, async (tx) => ({
          ssoOnly: await ssoOnly(tx),
          user: await tx.db
            .selectFrom('users')
            .select(['id', 'role', 'status', 'password_hash'])
            .where('email_hash', '=', emailHash(tenant.id, input.email))
            .$narrowType<{ role: OperatorRole }>()
            .executeTakeFirst(),
        }))
      : undefined;
    // A tenant that signs in through its identity provider only: refused before any password is
    // checked, whoever asks, so the answer tells nothing about a password.
    if (rows?.ssoOnly) throw passwordSignInDisabled(found!.slug);
    const user = rows?.user;
    // The password is checked even when there is no such user, so a wrong address takes as long as a wrong password.
    // A hash of an older format or weaker parameters comes back re-hashed at the current ones (`upgraded`).
    const { ok, upgraded } = await verifyPasswordForUpgrade(input.password, user?.password_hash ?? DECOY_PASSWORD_HASH);
    if (!tenant || !user || user.status !== 'active' || !user.password_hash || !ok) throw new AuthError('invalid-credentials');

    const session = await this.db.withTenant(tenant.id, async (tx) => {
      if (upgraded) {
        // Only over the hash just verified: a password changed meanwhile (reset) is kept.
        await tx.db
          .updateTable('users')
          .set({ password_hash: upgraded })
          .where('id', '=', user.id)
          .where('password_hash', '=', user.password_hash)
          .execute();
      }
      return this.openSession(tx, tenant.id, user.id, client, '/auth/login');
    });
    return this.tokensFor(tenant.id, user.id, user.role, session, readAt);
  }

  /**
   * A new session of the user in the caller's transaction: the session, its first refresh token,
   * and the access-log entry (a sign-in is a change of the tenant's data). Password login and
   * single sign-on (sso/) both open sessions here; {@link tokensFor} then issues the tokens.
   */
  async openSession(tx: TenantTx, tenantId: TenantId, userId: string, client: ClientInfo, route: string): Promise<NewSession> {
    const sessionId = newId();
    const refreshToken = newTenantSecret(tenantId, REFRESH_PREFIX);
    const now = Date.now();
    const sessionExpires = new Date(now + SESSION_LIFETIME_MS);
    const refreshExpires = new Date(now + REFRESH_IDLE_MS);
    await tx.db
      .insertInto('auth_sessions')
      .values({ id: sessionId, tenant_id: tenantId, user_id: userId, expires_at: sessionExpires, ip: client.ip, user_agent: client.userAgent?.slice(0, 500) ?? null })
      .execute();
    await tx.db
      .insertInto('refresh_tokens')
      .values({ id: newId(), tenant_id: tenantId, session_id: sessionId, token_hash: tokenHash(refreshToken), status: 'active', expires_at: refreshExpires })
      .execute();
    // A login is a change of the tenant's data (a session): recorded in its audit log with the session.
    await this.recordAccess(tx, tenantId, userId, 'create', 'session', sessionId, route, 200, client.ip);
    return { sessionId, refreshToken, refreshExpires };
  }

  /** The access and refresh tokens of a session opened by {@link openSession} (committed); `readAt`: when the user's role was read. */
  tokensFor(tenantId: TenantId, userId: string, role: OperatorRole, session: NewSession, readAt: number): Promise<TokenPair> {
    return this.pair(tenantId, userId, role, session.sessionId, session.refreshToken, session.refreshExpires, readAt);
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
        const row = await tx.db
          .selectFrom('refresh_tokens as rt')
          .innerJoin('auth_sessions as s', 's.id', 'rt.session_id')
          .innerJoin('users as u', 'u.id', 's.user_id')
          .select(['rt.id', 'rt.status', 'rt.expires_at', 's.id as session_id', 's.user_id', 's.revoked_at', 's.expires_at as session_expires', 'u.role', 'u.status as user_status'])
          .where('rt.token_hash', '=', tokenHash(refreshToken))
          .forUpdate(['rt', 's'])
          .forShare('u')
          .$narrowType<{ role: OperatorRole }>()
          .executeTakeFirst();
        // The user row stays locked until commit: a role change (which marks after its update) waits
        // for this refresh, so its marker is later than readAt and revokes the token made here.
        const readAt = Date.now();
        if (!row) return { kind: 'invalid' };
        const endSession = async (reason: 'reuse' | 'user-removed') => {
          // The marker first: the session's access tokens stop working even if this commit fails.
          await this.revocations.sessionEnded(tenantId, row.session_id);
          await tx.db
            .updateTable('auth_sessions')
            .set({ revoked_at: sql`now()`, revoked_reason: reason })
            .where('id', '=', row.session_id)
            .where('revoked_at', 'is', null)
            .execute();
          await tx.db.updateTable('refresh_tokens').set({ status: 'revoked' }).where('session_id', '=', row.session_id).where('status', '=', 'active').execute();
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
        await tx.db.updateTable('refresh_tokens').set({ status: 'rotated', used_at: sql`now()` }).where('id', '=', row.id).execute();
        await tx.db
          .insertInto('refresh_tokens')
          .values({ id: newId(), tenant_id: tenantId, session_id: row.session_id, token_hash: tokenHash(next), status: 'active', expires_at: expiresAt })
          .execute();
        return { kind: 'ok', sessionId: row.session_id, userId: row.user_id, role: row.role, refreshToken: next, expiresAt, readAt };
      });
    } catch (err) {
      if (err instanceof TenantNotPlacedError) throw new AuthError('invalid-refresh-token');
      throw err;
    }
    if (outcome.kind === 'reused') throw new AuthError('refresh-token-reused');
    if (outcome.kind === 'invalid') throw new AuthError('invalid-refresh-token');
    return this.pair(tenantId, outcome.userId, outcome.role, outcome.sessionId, outcome.refreshToken, outcome.expiresAt, outcome.readAt);
  }

  /** Ends the caller's session: its refresh tokens and, at once, its access tokens. */
  async logout(p: Principal): Promise<void> {
    if (p.kind !== 'user' || !p.sessionId) throw new ProblemException(400, 'not-a-session', 'Not a login session', 'API keys have no session to end; revoke the key instead.');
    const sessionId = p.sessionId;
    await this.db.withTenant(p.tenantId, async (tx) => {
      await this.revocations.sessionEnded(p.tenantId, sessionId);
      await tx.db
        .updateTable('auth_sessions')
        .set({ revoked_at: sql`now()`, revoked_reason: 'logout' })
        .where('id', '=', sessionId)
        .where('user_id', '=', p.subject)
        .where('revoked_at', 'is', null)
        .execute();
      await tx.db.updateTable('refresh_tokens').set({ status: 'revoked' }).where('session_id', '=', sessionId).where('status', '=', 'active').execute();
    });
  }

  /**
   * Starts a password reset: when the address belongs to an active operator of the tenant, a
   * one-hour link is mailed to it (through the platform's mail port). The answer is the same either
   * way, so the route tells nobody which addresses exist.
   */
  async requestPasswordReset(body: unknown): Promise<void> {
    const input = parseInput(resetRequestBody, body);
    const found = await this.directory.bySlug(input.tenant.toLowerCase(), { maxAgeMs: 0 });
    if (!found || !['active', 'suspended'].includes(found.status)) return;
    const tenant = { id: found.id as TenantId, name: found.name, slug: found.slug };
    const token = newTenantSecret(tenant.id, RESET_PREFIX);
    // Sealed whether or not the address is known: the answer takes as long either way.
    const to = await this.mail.seal(tenant.id, input.email.trim().toLowerCase());
    await this.db.withTenant(tenant.id, async (tx) => {
      const user = await tx.db.selectFrom('users').select('id').where('email_hash', '=', emailHash(tenant.id, input.email)).where('status', '=', 'active').executeTakeFirst();
      // No password to reset where passwords do not sign in (the same answer, nothing sent).
      if (!user || (await ssoOnly(tx))) return;
      await tx.db
        .insertInto('password_resets')
        .values({ id: newId(), tenant_id: tenant.id, user_id: user.id, token_hash: tokenHash(token), expires_at: new Date(Date.now() + RESET_TTL_MS) })
        .execute();
      await this.mail.queue(tx, {
        tenantId: tenant.id,
        to,
        subject: `Reset your ${tenant.name} password`,
        body: `Someone asked to reset your password for ${tenant.name}.\nSet a new one here: ${PublicLinks.passwordReset(token)}\nThe link expires in 1 hour. If it was not you, ignore this message.\n\nThen sign in with the organisation "${tenant.slug}", this e-mail address and the new password.`,
        kind: 'password-reset',
      });
    });
  }

  /** Sets a new password with a reset token; every session of the user ends (its tokens at once). */
  async confirmPasswordReset(body: unknown): Promise<void> {
    const input = parseInput(resetConfirmBody, body, (path) => (path === 'password' ? 'weak-password' : undefined));
    const invalid = () => new ProblemException(404, 'reset-not-found', 'Reset link not valid', 'This password-reset link is not valid; ask for a new one.');
    const tenantId = tenantOfSecret(input.token, RESET_PREFIX);
    if (!tenantId) throw invalid();
    const reset = (tx: TenantTx, lock: boolean) => {
      const q = tx.db.selectFrom('password_resets').select(['id', 'user_id', 'expires_at', 'used_at']).where('token_hash', '=', tokenHash(input.token));
      return (lock ? q.forUpdate() : q).executeTakeFirst();
    };
    const usable = <T extends { expires_at: Date; used_at: Date | null }>(r: T | undefined): T => {
      if (!r) throw invalid();
      if (r.used_at) throw new ProblemException(409, 'reset-used', 'Reset link already used', 'This link was used already; ask for a new one if needed.');
      if (r.expires_at.getTime() <= Date.now()) throw new ProblemException(410, 'reset-expired', 'Reset link expired', 'This link expired; ask for a new one.');
      return r;
    };
    try {
      // The password is hashed (128 MiB, a few hundred ms) only for a usable link, and outside the transaction.
      usable(await this.db.withTenant(tenantId, (tx) => reset(tx, false)));
      const passwordHash = await hashPassword(input.password);
      await this.db.withTenant(tenantId, async (tx) => {
        const r = usable(await reset(tx, true));
        // A link sent before the organisation turned password sign-in off sets no password now.
        if (await ssoOnly(tx)) throw passwordSignInDisabled();
        const { numUpdatedRows } = await tx.db
          .updateTable('users')
          .set({ password_hash: passwordHash, updated_at: sql`now()` })
          .where('id', '=', r.user_id)
          .where('status', '=', 'active')
          .executeTakeFirst();
        if (numUpdatedRows === 0n) throw invalid();
        // After the update (which holds the user row): a refresh in flight finishes first, so its token predates the marker.
        await this.revocations.userChanged(tenantId, r.user_id);
        await tx.db.updateTable('password_resets').set({ used_at: sql`now()` }).where('id', '=', r.id).execute();
        const ended = await tx.db
          .updateTable('auth_sessions')
          .set({ revoked_at: sql`now()`, revoked_reason: 'password-reset' })
          .where('user_id', '=', r.user_id)
          .where('revoked_at', 'is', null)
          .returning('id')
          .execute();
        for (const s of ended) await this.revocations.sessionEnded(tenantId, s.id);
        await tx.db
          .updateTable('refresh_tokens')
          .set({ status: 'revoked' })
          .where('status', '=', 'active')
          .where('session_id', 'in', tx.db.selectFrom('auth_sessions').select('id').where('user_id', '=', r.user_id))
          .execute();
        await this.recordAccess(tx, tenantId, r.user_id, 'update', 'user', r.user_id, '/auth/password-reset/confirm', 204, null);
      });
    } catch (err) {
      if (err instanceof TenantNotPlacedError) throw invalid();
      throw err;
    }
  }

  /**
   * Public routes have no principal for the gateway's access log: their changes record themselves,
   * in the transaction that makes them (same event as the gateway's entries).
   */
  private async recordAccess(tx: TenantTx, tenantId: TenantId, userId: string, action: 'create' | 'update', resourceType: string, resourceId: string, route: string, status: number, ip: string | null): Promise<void> {
    await publishInTx(
      tx,
      AccessEvents.RECORDED,
      // The address sealed under the tenant's data key (access.recorded v2): personal data is stored only so.
      { actor: `user:${userId}`, action, resourceType, resourceId, method: 'POST', route, status, ipEnc: ip ? await this.cipher.encrypt(tenantId, ACCESS_IP_FIELD, ip) : null, at: new Date().toISOString() },
      { tenantId, producer: 'gateway', correlationId: newId() },
    );
  }

  /** The database's word on a principal (Redis markers' fallback): user active with the token's role, session not ended. */
  async stillValid(p: Principal): Promise<boolean> {
    if (p.kind !== 'user') return true;
    const row = await this.db.withTenant(p.tenantId, (tx) =>
      tx.db
        .selectFrom('users as u')
        .leftJoin('auth_sessions as s', (join) => join.on('s.id', '=', p.sessionId).onRef('s.user_id', '=', 'u.id'))
        .select(['u.status', 'u.role', 's.revoked_at'])
        .where('u.id', '=', p.subject)
        .executeTakeFirst(),
    );
    return !!row && row.status === 'active' && row.role === p.role && row.revoked_at === null;
  }

  /** The calling user's own profile. */
  async me(p: Principal): Promise<MeDto> {
    if (p.kind !== 'user') throw notFound('user');
    const row = await this.db.withTenant(p.tenantId, (tx) =>
      tx.db
        .selectFrom('users')
        .select(['id', 'email_enc', 'display_name', 'role'])
        .where('id', '=', p.subject)
        .where('status', '=', 'active')
        .$narrowType<{ role: OperatorRole }>()
        .executeTakeFirst(),
    );
    if (!row) throw notFound('user');
    return { tenantId: p.tenantId, userId: row.id, email: await this.cipher.decrypt(p.tenantId, 'users.email', row.email_enc), displayName: row.display_name, role: row.role };
  }


  private async pair(tenantId: TenantId, userId: string, role: OperatorRole, sessionId: string, refreshToken: string, refreshExpires: Date, readAt: number): Promise<TokenPair> {
    const accessToken = await this.tokens.issueAccess({ kind: 'user', tenantId, subject: userId, role, sessionId, scopes: ['*'] }, readAt);
    return { tokenType: 'Bearer', accessToken, expiresIn: this.tokens.accessTtlSeconds, refreshToken, refreshExpiresAt: refreshExpires.toISOString(), tenantId, userId, role };
  }
}
