import { RawBuilder, sql } from 'kysely';
import type { Principal } from '@hotdash/platform-auth';

/**
 * Which tickets a caller sees (DESIGN.md §1): operators the tickets assigned to them, team leads
 * also those of their team's operators, managers and admins every ticket of the tenant. A ticket
 * outside the scope is answered exactly like one that does not exist.
 */
export type QueueScope = 'own' | 'team' | 'all';

/**
 * The condition on tickets `t` that the caller may see, for a Kysely `where`: one `sql` fragment
 * whose values are bind parameters. The team is read from the caller's and the assignee's queue
 * members (queue-members.ts) at query time: a move between teams applies once its event is in.
 */
export function visibleTo(p: Principal): RawBuilder<boolean> {
  const [scope, me] = scopeParams(p);
  return sql<boolean>`(${scope}::text = 'all'
    or t.assignee_id = ${me}::uuid
    or (${scope}::text = 'team' and exists (select 1 from queue_members me join queue_members u on u.team = me.team where me.user_id = ${me}::uuid and u.user_id = t.assignee_id)))`;
}

/** The caller's scope and user id. An API key is nobody's assignee: with an operator's role it sees no ticket. */
export function scopeParams(p: Principal): [QueueScope, string | null] {
  return [p.role === 'operator' ? 'own' : p.role === 'team_lead' ? 'team' : 'all', p.kind === 'user' ? p.subject : null];
}
