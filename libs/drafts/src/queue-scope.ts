import type { Principal } from '@hotdash/platform-auth';

/**
 * Which tickets a caller sees (DESIGN.md §1): operators the tickets assigned to them, team leads
 * also those of their team's operators, managers and admins every ticket of the tenant. A ticket
 * outside the scope is answered exactly like one that does not exist.
 */
export type QueueScope = 'own' | 'team' | 'all';

/**
 * SQL condition on tickets `t` for the scope; its parameters are always $1 (scope) and $2 (the
 * caller's user id), so every query that uses it numbers its own parameters from $3. The team is
 * read from the caller's and the assignee's rows at query time: a move between teams applies at once.
 */
export const VISIBLE = `($1::text = 'all'
  or t.assignee_id = $2::uuid
  or ($1::text = 'team' and exists (select 1 from users me join users u on u.team = me.team where me.id = $2::uuid and u.id = t.assignee_id)))`;

/** The scope's parameters for VISIBLE ($1, $2). An API key is nobody's assignee: with an operator's role it sees no ticket. */
export function scopeParams(p: Principal): [QueueScope, string | null] {
  return [p.role === 'operator' ? 'own' : p.role === 'team_lead' ? 'team' : 'all', p.kind === 'user' ? p.subject : null];
}
