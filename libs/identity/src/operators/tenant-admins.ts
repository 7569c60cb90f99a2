import type { TenantId } from '@hotdash/contracts';
import { emailHash } from '@hotdash/platform-auth';
import { FieldCipher } from '@hotdash/platform-crypto';
import { TenantDatabase } from '@hotdash/platform-db';
import { MailOutbox } from '@hotdash/platform-messaging';
import { createInvitation, INVITATION_MAIL_KIND } from './invitations';

/** A new tenant's first administrator, as the sign-up names them. */
export interface FirstAdmin {
  tenantId: TenantId;
  /** The organisation's name and login slug, for the invitation e-mail. */
  tenantName: string;
  slug: string;
  email: string;
  displayName: string | null;
  /** Who invites (operator.invited's `by`, e.g. `saga:<id>`), and the event's correlation and causation ids. */
  by: string;
  correlationId: string;
  causationId?: string;
}

/**
 * Identity's API for the provisioning saga: users and invitations are identity's (DESIGN.md §2, one
 * owner per table), so the saga asks here for a new tenant's first administrator instead of
 * writing them itself. The admin is invited like any operator (invited user, invitation, e-mail,
 * operator.invited), in one transaction on the tenant's shard.
 */
export class TenantAdmins {
  private readonly mail: MailOutbox;

  constructor(
    private readonly tenantDb: TenantDatabase,
    private readonly cipher: FieldCipher,
  ) {
    this.mail = new MailOutbox(cipher);
  }

  /** Invites the first admin. Asked again (a saga step run again after a crash), finds them by address and changes nothing. */
  async inviteFirst(admin: FirstAdmin): Promise<{ userId: string }> {
    const { tenantId } = admin;
    const hash = emailHash(tenantId, admin.email);
    const emailEnc = await this.cipher.encrypt(tenantId, 'users.email', admin.email);
    const to = await this.mail.seal(tenantId, admin.email);
    return this.tenantDb.withTenant(tenantId, async (tx) => {
      const found = await tx.db.selectFrom('users').select('id').where('tenant_id', '=', tenantId).where('email_hash', '=', hash).executeTakeFirst();
      if (found) return { userId: found.id };
      const { userId } = await createInvitation(tx, this.mail, {
        tenantId,
        tenantName: admin.tenantName,
        slug: admin.slug,
        emailEnc,
        emailHash: hash,
        to,
        displayName: admin.displayName,
        role: 'admin',
        by: admin.by,
        correlationId: admin.correlationId,
        causationId: admin.causationId,
      });
      return { userId };
    });
  }

  /**
   * Ends every login session of the tenant, and every refresh token of them (a pilot import: the
   * pilot's users and password hashes are carried, its sessions are not; everyone signs in again on
   * the platform). The rows stay as the record (reason `admin`). Idempotent; returns how many
   * sessions it ended. Access tokens the pilot issued were signed with the pilot's keys, which the
   * platform does not accept.
   */
  async endSessions(tenantId: TenantId): Promise<{ sessions: number; refreshTokens: number }> {
    return this.tenantDb.withTenant(tenantId, async (tx) => {
      const sessions = await tx.db
        .updateTable('auth_sessions')
        .set({ revoked_at: new Date(), revoked_reason: 'admin' })
        .where('tenant_id', '=', tenantId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      const tokens = await tx.db.updateTable('refresh_tokens').set({ status: 'revoked' }).where('tenant_id', '=', tenantId).where('status', '=', 'active').executeTakeFirst();
      return { sessions: Number(sessions.numUpdatedRows), refreshTokens: Number(tokens.numUpdatedRows) };
    });
  }

  /**
   * Undoes an unfinished sign-up's accounts: the invitation e-mail unless it went out already (the
   * mail port's call), then the tenant's invitations and users (while it is being provisioned, only
   * its first admin).
   */
  async withdrawFirst(tenantId: TenantId): Promise<void> {
    await this.tenantDb.withTenant(tenantId, async (tx) => {
      await this.mail.cancelUnsent(tx, tenantId, INVITATION_MAIL_KIND);
      for (const t of ['invitations', 'users'] as const) await tx.db.deleteFrom(t).where('tenant_id', '=', tenantId).execute();
    });
  }
}
