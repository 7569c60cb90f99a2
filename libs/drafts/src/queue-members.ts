import {
  Envelope,
  OperatorEvents,
  OperatorInvitedV1,
  OperatorJoinedV1,
  OperatorRemovedV1,
  OperatorRoleChangedV1,
  OperatorStateV1,
  OperatorTeamChangedV1,
} from '@hotdash/contracts';
import type { TenantTx } from '@hotdash/platform-db';
import { NonRetryableError } from '@hotdash/platform-messaging';

export type OperatorEvent =
  | Envelope<typeof OperatorEvents.INVITED, OperatorInvitedV1>
  | Envelope<typeof OperatorEvents.JOINED, OperatorJoinedV1>
  | Envelope<typeof OperatorEvents.ROLE_CHANGED, OperatorRoleChangedV1>
  | Envelope<typeof OperatorEvents.TEAM_CHANGED, OperatorTeamChangedV1>
  | Envelope<typeof OperatorEvents.REMOVED, OperatorRemovedV1>;

/**
 * The queue members: drafts' own view of the tenant's operators (DESIGN.md §2, one owner per
 * table), kept from the operator.* events provisioning publishes, in the transport's transaction
 * (each event applied once, with its inbox row). Who is given tickets (active operators) and which
 * team a team lead sees are read here, never in provisioning's tables.
 *
 * An event carries the operator's state after the change and its instant (`state.at`, the shard's
 * clock under the operator's row lock): a member takes the newest state and ignores an older one,
 * so a replay or an event overtaken by a later one changes nothing. Removal is final (a removed
 * operator who is invited again is a new user). An event written before events carried the state
 * applies its change alone, as of its occurredAt. The member is the envelope's tenant's (the
 * transaction's, under row-level security); a payload naming another tenant is refused.
 */
export async function projectOperator(tx: TenantTx, event: OperatorEvent): Promise<void> {
  const { tenantId, userId, state } = event.payload;
  if (tenantId !== event.tenantId) throw new NonRetryableError(`${event.type} ${event.id} of tenant ${event.tenantId} names tenant ${tenantId}`, 'tenant-mismatch');
  if (state) return upsert(tx, tenantId, userId, state);
  const at = event.occurredAt;
  switch (event.type) {
    case OperatorEvents.INVITED:
      return upsert(tx, tenantId, userId, { role: event.payload.role, team: null, status: 'invited', at });
    case OperatorEvents.JOINED:
      return change(tx, userId, { status: 'active' }, at);
    case OperatorEvents.ROLE_CHANGED:
      return change(tx, userId, { role: event.payload.to }, at);
    case OperatorEvents.TEAM_CHANGED:
      return change(tx, userId, { team: event.payload.to }, at);
    case OperatorEvents.REMOVED:
      return change(tx, userId, { status: 'removed' }, at);
  }
}

async function upsert(tx: TenantTx, tenantId: string, userId: string, s: OperatorStateV1): Promise<void> {
  await tx.db
    .insertInto('queue_members')
    .values({ tenant_id: tenantId, user_id: userId, role: s.role, team: s.team, status: s.status, updated_at: s.at })
    .onConflict((oc) =>
      oc
        .columns(['tenant_id', 'user_id'])
        .doUpdateSet((eb) => ({ role: eb.ref('excluded.role'), team: eb.ref('excluded.team'), status: eb.ref('excluded.status'), updated_at: eb.ref('excluded.updated_at') }))
        .whereRef('queue_members.updated_at', '<=', 'excluded.updated_at')
        .where('queue_members.status', '<>', 'removed'),
    )
    .execute();
}

/** One field of a known member, unless a newer change is applied already (a removal applies whenever it happened). */
async function change(tx: TenantTx, userId: string, set: { role?: string; team?: string | null; status?: string }, at: string): Promise<void> {
  await tx.db
    .updateTable('queue_members')
    .set({ ...set, updated_at: at })
    .where('user_id', '=', userId)
    .where('status', '<>', 'removed')
    .$if(set.status !== 'removed', (qb) => qb.where('updated_at', '<=', new Date(at)))
    .execute();
}
