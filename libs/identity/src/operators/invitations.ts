import { OperatorEvents, OperatorRole, TenantId } from '@hotdash/contracts';
import { newTenantSecret, tokenHash } from '@hotdash/platform-auth';
import { newId, TenantTx } from '@hotdash/platform-db';
import { PublicLinks } from '@hotdash/platform-http';
import { MailOutbox, publishInTx, SealedAddress } from '@hotdash/platform-messaging';
import { ssoOnly } from '../sso/sso-config';
import { operatorState } from './operator-state';

/** How long an invitation link works. */
export const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000;
/** The kind of the invitation e-mails in the mail outbox. */
export const INVITATION_MAIL_KIND = 'invitation';
/**
 * The producer named in operator.* events: the provisioning service, which serves the operator
 * routes (OperatorsModule) and runs the saga that invites a tenant's first admin (TenantAdmins).
 */
export const OPERATOR_EVENTS_PRODUCER = 'provisioning';

/** An invitation token: the tenant id (to find its shard) and 256 random bits; only its hash is stored. */
export function newInvitationToken(tenantId: string): string {
  return newTenantSecret(tenantId);
}

/** The invitation e-mail: a working link to set the password, and what to sign in with afterwards (the tenant's login slug). */
export function invitationMail(tenantName: string, slug: string, token: string, role: string, ssoOnly = false): { subject: string; body: string } {
  if (ssoOnly)
    return {
      subject: `You are invited to ${tenantName} on HotDash`,
      body: [
        `You have been invited as ${role.replace('_', ' ')} of ${tenantName}.`,
        `${tenantName} signs in through its identity provider: sign in here with your work account to start: ${PublicLinks.singleSignOn(slug)}`,
        '',
        `The API and its documentation: ${PublicLinks.docs()}`,
      ].join('\n'),
    };
  return {
    subject: `You are invited to ${tenantName} on HotDash`,
    body: [
      `You have been invited as ${role.replace('_', ' ')} of ${tenantName}.`,
      `Set your password to start: ${PublicLinks.invitation(token)}`,
      'The link expires in 7 days.',
      '',
      `Then sign in with the organisation "${slug}", this e-mail address and your password.`,
      `The API and its documentation: ${PublicLinks.docs()}`,
    ].join('\n'),
  };
}

/** An operator to invite, with their address already encrypted (emailEnc), hashed (emailHash) and sealed for the mail port (to). */
export interface NewInvitation {
  tenantId: TenantId;
  tenantName: string;
  slug: string;
  emailEnc: string;
  emailHash: string;
  to: SealedAddress;
  displayName: string | null;
  role: OperatorRole;
  /** operator.invited's `by`, and the event's correlation (default: the new operator's id) and causation ids. */
  by: string;
  correlationId?: string;
  causationId?: string;
}

/**
 * Invites an operator in the caller's transaction: the invited user, their invitation (a token that
 * works once, until it expires), the invitation e-mail through the mail port, and operator.invited
 * with the operator's state. The same for the operators API and a new tenant's first admin.
 */
export async function createInvitation(tx: TenantTx, mail: MailOutbox, i: NewInvitation): Promise<{ userId: string; expiresAt: Date }> {
  const userId = newId();
  const token = newInvitationToken(i.tenantId);
  const invitation = invitationMail(i.tenantName, i.slug, token, i.role, await ssoOnly(tx));
  const expiresAt = new Date(Date.now() + INVITATION_TTL_MS);
  await tx.db
    .insertInto('users')
    .values({ id: userId, tenant_id: i.tenantId, email_enc: i.emailEnc, email_hash: i.emailHash, display_name: i.displayName, role: i.role, status: 'invited' })
    .execute();
  await tx.db.insertInto('invitations').values({ id: newId(), tenant_id: i.tenantId, user_id: userId, token_hash: tokenHash(token), expires_at: expiresAt }).execute();
  await mail.queue(tx, { tenantId: i.tenantId, to: i.to, subject: invitation.subject, body: invitation.body, kind: INVITATION_MAIL_KIND });
  // Drafts keeps its queue members from these events.
  const state = await operatorState(tx, userId);
  await publishInTx(
    tx,
    OperatorEvents.INVITED,
    { tenantId: i.tenantId, userId, role: i.role, by: i.by, state },
    { tenantId: i.tenantId, producer: OPERATOR_EVENTS_PRODUCER, correlationId: i.correlationId ?? userId, causationId: i.causationId },
  );
  return { userId, expiresAt };
}
