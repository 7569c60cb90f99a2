import { z } from 'zod';
import { uuidSchema } from './envelope';

export const OperatorRoles = ['operator', 'team_lead', 'manager', 'admin'] as const;
export type OperatorRole = (typeof OperatorRoles)[number];

export const OperatorEvents = {
  /** A tenant admin invited someone to the tenant with a role. Consumed by: audit. */
  INVITED: 'operator.invited',
  /** An invited operator accepted and set a password. Consumed by: audit. */
  JOINED: 'operator.joined',
  /** An operator's role changed. Consumed by: audit, gateway (permissions). */
  ROLE_CHANGED: 'operator.role-changed',
  /** An operator moved to another team, or out of any (team leads see their team's tickets). Consumed by: audit. */
  TEAM_CHANGED: 'operator.team-changed',
  /** An operator was removed from the tenant. Consumed by: audit, gateway (revokes sessions). */
  REMOVED: 'operator.removed',
} as const;

const by = z.string().min(1).max(200);
export const operatorInvitedV1 = z.object({ tenantId: uuidSchema, userId: uuidSchema, role: z.enum(OperatorRoles), by }).strict();
export type OperatorInvitedV1 = z.infer<typeof operatorInvitedV1>;
export const operatorJoinedV1 = z.object({ tenantId: uuidSchema, userId: uuidSchema }).strict();
export type OperatorJoinedV1 = z.infer<typeof operatorJoinedV1>;
export const operatorRoleChangedV1 = z.object({ tenantId: uuidSchema, userId: uuidSchema, from: z.enum(OperatorRoles), to: z.enum(OperatorRoles), by }).strict();
export type OperatorRoleChangedV1 = z.infer<typeof operatorRoleChangedV1>;
export const operatorTeamChangedV1 = z
  .object({ tenantId: uuidSchema, userId: uuidSchema, from: z.string().min(1).max(100).nullable(), to: z.string().min(1).max(100).nullable(), by })
  .strict();
export type OperatorTeamChangedV1 = z.infer<typeof operatorTeamChangedV1>;
export const operatorRemovedV1 = z.object({ tenantId: uuidSchema, userId: uuidSchema, by }).strict();
export type OperatorRemovedV1 = z.infer<typeof operatorRemovedV1>;
