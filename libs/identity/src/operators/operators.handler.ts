import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { acceptInvitationBody, updateOperatorBody, inviteOperatorBody, OperatorEvents, OperatorRole, parseTenantId, TenantId } from '@hotdash/contracts';
import { FieldCipher } from '@hotdash/platform-crypto';
import { TenantDatabase, TenantDirectory, TenantNotPlacedError, TenantNotWritableError, TenantRecord, TenantTx } from '@hotdash/platform-db';
import { notFound, parseInput, ProblemException } from '@hotdash/platform-http';
import { passwordSignInDisabled, ssoOnly } from '../sso/sso-config';
import { MailOutbox, publishInTx } from '@hotdash/platform-messaging';
import { emailHash, hashPassword, RevocationStore, tokenHash } from '@hotdash/platform-auth';
import { createInvitation, OPERATOR_EVENTS_PRODUCER } from './invitations';
import { operatorState } from './operator-state';

const codes = (path: string): string | undefined => (path === 'role' ? 'invalid-role' : path === 'email' ? 'invalid-email' : path === 'password' ? 'weak-password' : undefined);

interface UserRow {
  id: string;
  email_enc: string;
  display_name: string | null;
  role: string;
  team: string | null;
  status: string;
}

const USER_COLUMNS = ['id', 'email_enc', 'display_name', 'role', 'team', 'status'] as const;

export interface OperatorDto {
  userId: string;
  email: string;
  displayName: string | null;
  role: OperatorRole;
  /** The team they work in (team leads see their team's tickets); null: none. */
  team: string | null;
  status: 'invited' | 'active' | 'removed';
}

/** An accepted invitation: who the operator is, and what they sign in with (the tenant's login slug). */
export interface AcceptedInvitation {
  tenantId: string;
  userId: string;
  tenant: string;
  links: { login: string };
}

/**
 * Operators of a tenant: invite (role, invitation token with an expiry, invitation e-mail through
 * the platform's mail port), accept (set a password), change role, remove. Every change is one
 * transaction on the tenant's shard with its event; a suspended tenant's writes are refused.
 * Users and invitations are identity's (DESIGN.md §2); the provisioning service serves these routes.
 */
@Injectable()
export class OperatorsHandler {
  constructor(
    @Inject(TenantDatabase) private readonly db: TenantDatabase,
    @Inject(TenantDirectory) private readonly directory: TenantDirectory,
    @Inject(FieldCipher) private readonly cipher: FieldCipher,
    @Inject(RevocationStore) private readonly revocations: RevocationStore,
    @Inject(MailOutbox) private readonly mail: MailOutbox,
  ) {}

  /** The tenant (read fresh from the tenant directory) when its operators may be changed: 404 unknown, provisioning or gone; 423 suspended or leaving. */
  private async writable(id: string): Promise<{ tenantId: TenantId; name: string; slug: string }> {
    const tenantId = parseTenantId(id);
    const t = await this.directory.of(tenantId, { maxAgeMs: 0 });
    if (!t || t.status === 'offboarded' || t.status === 'provisioning') throw notFound(`tenant ${tenantId}`);
    assertWritable(t);
    return { tenantId, name: t.name, slug: t.slug };
  }

  async invite(id: string, body: unknown, actorId: string): Promise<OperatorDto & { expiresAt: string }> {
    const input = parseInput(inviteOperatorBody, body, codes);
    const { tenantId, name, slug } = await this.writable(id);
    const hash = emailHash(tenantId, input.email);
    const emailEnc = await this.cipher.encrypt(tenantId, 'users.email', input.email);
    const to = await this.mail.seal(tenantId, input.email);
    return this.db.withTenant(tenantId, async (tx) => {
      const existing = await tx.db.selectFrom('users').select('status').where('tenant_id', '=', tenantId).where('email_hash', '=', hash).executeTakeFirst();
      if (existing && existing.status !== 'removed')
        throw new ProblemException(409, 'operator-exists', 'Operator exists', `this address already belongs to an ${existing.status} operator of the tenant`);
      if (existing) await tx.db.deleteFrom('users').where('tenant_id', '=', tenantId).where('email_hash', '=', hash).execute();
      const displayName = input.displayName ?? null;
      const { userId, expiresAt } = await createInvitation(tx, this.mail, { tenantId, tenantName: name, slug, emailEnc, emailHash: hash, to, displayName, role: input.role, by: actorId });
      return { userId, email: input.email, displayName, role: input.role, team: null, status: 'invited' as const, expiresAt: expiresAt.toISOString() };
    });
  }

  /** Accepts an invitation: sets the password and activates the operator. The token works once, before it expires. */
  async accept(body: unknown): Promise<AcceptedInvitation> {
    const input = parseInput(acceptInvitationBody, body, codes);
    const invalid = () => new ProblemException(404, 'invitation-not-found', 'Invitation not found', 'This invitation link is not valid; ask your administrator for a new one.');
    const dot = input.token.indexOf('.');
    let tenantId: TenantId;
    try {
      tenantId = parseTenantId(input.token.slice(0, dot));
    } catch {
      throw invalid();
    }
    const invitation = (tx: TenantTx, lock: boolean) => {
      const q = tx.db.selectFrom('invitations').select(['id', 'user_id', 'expires_at', 'accepted_at']).where('token_hash', '=', tokenHash(input.token));
      return (lock ? q.forUpdate() : q).executeTakeFirst();
    };
    const usable = <T extends { expires_at: Date; accepted_at: Date | null }>(inv: T | undefined): T => {
      if (!inv) throw invalid();
      if (inv.accepted_at) throw new ProblemException(409, 'invitation-used', 'Invitation already used', 'This invitation was accepted already; sign in, or ask for a new invitation.');
      if (inv.expires_at.getTime() < Date.now()) throw new ProblemException(410, 'invitation-expired', 'Invitation expired', 'This invitation expired; ask your administrator for a new one.');
      return inv;
    };
    try {
      const tenant = await this.directory.of(tenantId, { maxAgeMs: 0 });
      if (tenant) assertWritable(tenant);
      // The password is hashed (128 MiB, a few hundred ms) only for a usable invitation, and outside the transaction.
      usable(await this.db.withTenant(tenantId, (tx) => invitation(tx, false)));
      const passwordHash = await hashPassword(input.password);
      const accepted = await this.db.withTenant(tenantId, async (tx) => {
        const inv = usable(await invitation(tx, true));
        // Where passwords do not sign in, the invitation is accepted by signing in with single sign-on (with its role).
        if (await ssoOnly(tx)) throw passwordSignInDisabled(tenant?.slug);
        const { numUpdatedRows } = await tx.db
          .updateTable('users')
          .set((eb) => ({ status: 'active', password_hash: passwordHash, display_name: eb.fn.coalesce(eb.val(input.displayName ?? null), 'display_name'), updated_at: sql`now()` }))
          .where('id', '=', inv.user_id)
          .where('status', '=', 'invited')
          .executeTakeFirst();
        if (numUpdatedRows === 0n) throw invalid(); // removed meanwhile
        await tx.db.updateTable('invitations').set({ accepted_at: sql`now()` }).where('id', '=', inv.id).execute();
        const state = await operatorState(tx, inv.user_id);
        await publishInTx(tx, OperatorEvents.JOINED, { tenantId, userId: inv.user_id, state }, { tenantId, producer: OPERATOR_EVENTS_PRODUCER, correlationId: inv.user_id });
        return { tenantId, userId: inv.user_id };
      });
      return { ...accepted, tenant: tenant!.slug, links: { login: '/auth/login' } };
    } catch (err) {
      if (err instanceof TenantNotPlacedError) throw invalid();
      throw err;
    }
  }

  /** Changes an operator's role, team, or both (each change its event). */
  async update(id: string, userIdRaw: string, body: unknown, actorId: string): Promise<OperatorDto> {
    const input = parseInput(updateOperatorBody, body, codes);
    const { tenantId } = await this.writable(id);
    return this.db.withTenant(tenantId, async (tx) => {
      const user = await this.user(tx, tenantId, userIdRaw);
      const role = input.role ?? user.role;
      const team = input.team === undefined ? user.team : input.team;
      if (team !== user.team) await tx.db.updateTable('users').set({ team, updated_at: sql`now()` }).where('id', '=', user.userId).execute();
      if (user.role === 'admin' && role !== 'admin') await this.keepAnAdmin(tx, tenantId, user.userId);
      if (user.role !== role) {
        await tx.db.updateTable('users').set({ role, updated_at: sql`now()` }).where('id', '=', user.userId).execute();
        // Tokens issued with the old role stop working at once. After the update, which holds the
        // user row (a refresh in flight finishes first, so its token predates the marker), before
        // the commit (if the commit fails: at worst a re-login).
        await this.revocations.userChanged(tenantId, user.userId);
      }
      // Each change its event, both with the state the whole update leaves.
      const state = team !== user.team || user.role !== role ? await operatorState(tx, user.userId) : undefined;
      if (team !== user.team)
        await publishInTx(tx, OperatorEvents.TEAM_CHANGED, { tenantId, userId: user.userId, from: user.team, to: team, by: actorId, state }, { tenantId, producer: OPERATOR_EVENTS_PRODUCER, correlationId: user.userId });
      if (user.role !== role)
        await publishInTx(tx, OperatorEvents.ROLE_CHANGED, { tenantId, userId: user.userId, from: user.role, to: role, by: actorId, state }, { tenantId, producer: OPERATOR_EVENTS_PRODUCER, correlationId: user.userId });
      return { ...user, role, team };
    });
  }

  async remove(id: string, userIdRaw: string, actorId: string): Promise<void> {
    const { tenantId } = await this.writable(id);
    const userId = await this.db.withTenant(tenantId, async (tx) => {
      const user = await this.user(tx, tenantId, userIdRaw);
      if (user.role === 'admin') await this.keepAnAdmin(tx, tenantId, user.userId);
      await tx.db.updateTable('users').set({ status: 'removed', password_hash: null, updated_at: sql`now()` }).where('id', '=', user.userId).execute();
      // Tokens issued so far stop working at once (refresh and the gateways' database fallback check the status too).
      await this.revocations.userChanged(tenantId, user.userId);
      await tx.db.deleteFrom('invitations').where('user_id', '=', user.userId).where('accepted_at', 'is', null).execute();
      const state = await operatorState(tx, user.userId);
      await publishInTx(tx, OperatorEvents.REMOVED, { tenantId, userId: user.userId, by: actorId, state }, { tenantId, producer: OPERATOR_EVENTS_PRODUCER, correlationId: user.userId });
      return user.userId;
    });
    // Committed: now for good, whenever a token was issued.
    await this.revocations.userRemoved(tenantId, userId);
  }


  async list(id: string): Promise<OperatorDto[]> {
    const tenantId = parseTenantId(id);
    const rows = await this.db.readOnce(tenantId, (db) => db.selectFrom('users').select(USER_COLUMNS).where('status', '<>', 'removed').orderBy('created_at'));
    return Promise.all(rows.map((r) => this.dto(tenantId, r)));
  }

  private async user(tx: TenantTx, tenantId: TenantId, userIdRaw: string): Promise<OperatorDto> {
    const r = await tx.db.selectFrom('users').select(USER_COLUMNS).where('id', '=', userIdRaw).where('status', '<>', 'removed').forUpdate().executeTakeFirst();
    // Another tenant's operator answers exactly like one that does not exist (RLS hides it anyway).
    if (!r) throw notFound(`operator ${userIdRaw}`);
    return this.dto(tenantId, r);
  }

  private async dto(tenantId: TenantId, r: UserRow): Promise<OperatorDto> {
    return {
      userId: r.id,
      email: await this.cipher.decrypt(tenantId, 'users.email', r.email_enc),
      displayName: r.display_name,
      role: r.role as OperatorRole,
      team: r.team,
      status: r.status as OperatorDto['status'],
    };
  }

  private async keepAnAdmin(tx: TenantTx, tenantId: TenantId, leaving: string): Promise<void> {
    const others = await tx.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('tenant_id', '=', tenantId)
      .where('role', '=', 'admin')
      .where('status', '<>', 'removed')
      .where('id', '<>', leaving)
      .executeTakeFirstOrThrow();
    if (Number(others.n) === 0) throw new ProblemException(409, 'last-admin', 'Last administrator', 'A tenant keeps at least one administrator: make someone else admin first.');
  }
}

/** Operators of a suspended or leaving tenant are not changed (423, as TenantStatusCache.assertWritable answers). */
function assertWritable(t: TenantRecord): void {
  if (t.status === 'suspended' || t.status === 'offboarding' || t.status === 'offboarded') throw new TenantNotWritableError(t.id, t.status);
}
