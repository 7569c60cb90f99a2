// The approval SLA's enforcement (issue 16 item 1): a ticket whose draft got no first decision by
// the time its approval workflow allows is flagged as breached and escalated, once.
import { z } from 'zod';
import { uuidSchema } from './envelope';

export const SlaEvents = {
  /**
   * A ticket went past its SLA (the time to the first decision of its approval workflow) without a
   * decision: flagged in the queue and, when the workflow escalates, handed to the assignee's team
   * lead. Published once per ticket by the drafts service's SLA sweep, in the transaction that
   * flags it. Consumed by: notifications and the portal's live queue; audit once it lists it.
   */
  BREACHED: 'ticket.sla-breached',
} as const;

/** How a breach was escalated. */
export const SlaEscalations = [
  /** To the assignee's team lead (`escalatedTo`). */
  'team_lead',
  /** The workflow does not escalate: flagged only. */
  'none',
  /** The workflow escalates, but the assignee has no team, or the team no active team lead: flagged only. */
  'no_team_lead',
] as const;
export type SlaEscalation = (typeof SlaEscalations)[number];

export const ticketSlaBreachedV1 = z
  .object({
    tenantId: uuidSchema,
    ticketId: uuidSchema,
    /** The approval workflow whose SLA applied when the ticket was stored. */
    workflowKey: z.string().min(1).max(40),
    /** Minutes to the first decision that workflow allowed. */
    firstDecisionMinutes: z.number().int().min(1).max(43_200),
    dueAt: z.iso.datetime({ offset: true }),
    breachedAt: z.iso.datetime({ offset: true }),
    /** Who had the ticket when it was flagged (null: nobody). */
    assigneeId: uuidSchema.nullable(),
    escalation: z.enum(SlaEscalations),
    /** The team lead the ticket was escalated to (set exactly when escalation is `team_lead`). */
    escalatedTo: uuidSchema.nullable(),
  })
  .strict()
  .refine((e) => (e.escalation === 'team_lead') === (e.escalatedTo !== null), 'escalatedTo is set exactly when escalation is team_lead');
export type TicketSlaBreachedV1 = z.infer<typeof ticketSlaBreachedV1>;
