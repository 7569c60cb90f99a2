import { z } from 'zod';
import { uuidSchema } from './envelope';

export const OperatorRoles = ['operator', 'team_lead', 'manager', 'admin'] as const;
export type OperatorRole = (typeof OperatorRoles)[number];

export const OperatorEvents = {
  /** A tenant admin invited someone to the tenant with a role (the provisioning saga: the first admin). Consumed by: audit, drafts (queue members). */
  INVITED: 'operator.invited',
  /** An invited operator accepted and set a password. Consumed by: audit, drafts (queue members). */
  JOINED: 'operator.joined',
  /** An operator's role changed. Consumed by: audit, gateway (permissions), drafts (queue members). */
  ROLE_CHANGED: 'operator.role-changed',
  /** An operator moved to another team, or out of any (team leads see their team's tickets). Consumed by: audit, drafts (queue members). */
  TEAM_CHANGED: 'operator.team-changed',
  /** An operator was removed from the tenant. Consumed by: audit, gateway (revokes sessions), drafts (queue members; reassigns their open tickets). */
  REMOVED: 'operator.removed',
} as const;

const by = z.string().min(1).max(200);
const team = z.string().min(1).max(100);

export const OperatorStatuses = ['invited', 'active', 'removed'] as const;
export type OperatorStatus = (typeof OperatorStatuses)[number];

/**
 * The operator as the change left them, and when: `at` is the shard's clock read while the
 * operator's row is locked, so a later change of one operator always carries a later instant.
 * Projections of operators (drafts' queue members) keep the newest state they have seen and ignore
 * an older one, whatever order events arrive in. Optional: events written before it carry the
 * change alone.
 */
export const operatorStateV1 = z
  .object({ role: z.enum(OperatorRoles), team: team.nullable(), status: z.enum(OperatorStatuses), at: z.iso.datetime({ offset: true }) })
  .strict();
export type OperatorStateV1 = z.infer<typeof operatorStateV1>;
const state = operatorStateV1.optional();

export const operatorInvitedV1 = z.object({ tenantId: uuidSchema, userId: uuidSchema, role: z.enum(OperatorRoles), by, state }).strict();
export type OperatorInvitedV1 = z.infer<typeof operatorInvitedV1>;
export const operatorJoinedV1 = z.object({ tenantId: uuidSchema, userId: uuidSchema, state }).strict();
export type OperatorJoinedV1 = z.infer<typeof operatorJoinedV1>;
export const operatorRoleChangedV1 = z.object({ tenantId: uuidSchema, userId: uuidSchema, from: z.enum(OperatorRoles), to: z.enum(OperatorRoles), by, state }).strict();
export type OperatorRoleChangedV1 = z.infer<typeof operatorRoleChangedV1>;
export const operatorTeamChangedV1 = z
  .object({ tenantId: uuidSchema, userId: uuidSchema, from: team.nullable(), to: team.nullable(), by, state })
  .strict();
export type OperatorTeamChangedV1 = z.infer<typeof operatorTeamChangedV1>;
export const operatorRemovedV1 = z.object({ tenantId: uuidSchema, userId: uuidSchema, by, state }).strict();
export type OperatorRemovedV1 = z.infer<typeof operatorRemovedV1>;
