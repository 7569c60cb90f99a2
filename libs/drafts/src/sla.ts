import { sql } from 'kysely';
import { Envelope, SlaEscalation, SlaEvents, TenantApprovalWorkflowsChangedV1, TenantEvents, TenantId, TicketSlaBreachedV1 } from '@hotdash/contracts';
import type { TenantTx } from '@hotdash/platform-db';
import { NonRetryableError, publishManyInTx } from '@hotdash/platform-messaging';
import { draftsEventMeta, SlaColumns } from './ticket-records';

/**
 * The approval SLA (issue 16 item 1), all of it on drafts' own tables:
 * - `queue_workflows`: drafts' copy of the tenant's approval workflows, kept from
 *   tenant.approval-workflows-changed (drafts never reads provisioning's approval_workflows);
 * - `ticket_slas`: a ticket's SLA, set when the ticket is stored from the workflow that applies then
 *   (the default one: new tickets go to it), cleared by the first decision, flagged and escalated
 *   once by the sweep (sla.sweep.ts), in the tenant's own transaction.
 */

/** A workflow as drafts keeps it: what the SLA needs. */
export interface SlaWorkflow {
  key: string;
  name: string;
  isDefault: boolean;
  firstDecisionMinutes: number;
  escalateToTeamLead: boolean;
}

/** The ticket_slas columns a read of the queue takes (left join `ticket_slas as s` on tenant and ticket), as TicketRow's SlaColumns. */
export const SLA_COLUMNS = ['s.due_at as sla_due_at', 's.first_decision_at as sla_decided_at', 's.breached_at as sla_breached_at', 's.escalated_to as sla_escalated_to'] as const;

/**
 * Applies tenant.approval-workflows-changed (in the transport's transaction, once through the inbox):
 * the complete list replaces what drafts kept, unless what it kept is of the same or a newer
 * settings version (a replayed or overtaken event changes nothing). Returns whether it applied.
 */
export async function projectApprovalWorkflows(tx: TenantTx, event: Envelope<typeof TenantEvents.APPROVAL_WORKFLOWS_CHANGED, TenantApprovalWorkflowsChangedV1>): Promise<boolean> {
  const p = event.payload;
  if (p.tenantId !== event.tenantId) throw new NonRetryableError(`${event.type} ${event.id} of tenant ${event.tenantId} names tenant ${p.tenantId}`, 'tenant-mismatch');
  const workflows: SlaWorkflow[] = p.workflows.map((w) => ({ key: w.key, name: w.name, isDefault: w.isDefault, firstDecisionMinutes: w.sla.firstDecisionMinutes, escalateToTeamLead: w.sla.escalateToTeamLead }));
  const kept = await tx.db
    .insertInto('queue_workflows')
    // jsonb sent as its text (an array would otherwise go as a PostgreSQL array)
    .values({ tenant_id: p.tenantId, version: p.version, changed_at: p.changedAt, workflows: JSON.stringify(workflows), event_id: event.id })
    .onConflict((oc) =>
      oc
        .column('tenant_id')
        .doUpdateSet((eb) => ({
          version: eb.ref('excluded.version'),
          changed_at: eb.ref('excluded.changed_at'),
          workflows: eb.ref('excluded.workflows'),
          event_id: eb.ref('excluded.event_id'),
          updated_at: sql<Date>`now()`,
        }))
        .whereRef('queue_workflows.version', '<', 'excluded.version'),
    )
    .returning('version')
    .executeTakeFirst();
  return kept !== undefined;
}

/**
 * Gives a ticket just stored (same transaction) its SLA from the tenant's default workflow: due at
 * its arrival plus the workflow's minutes to the first decision. No workflow kept: no SLA.
 * One statement (the workflow picked out of the kept list by the database). Returns the SLA's columns.
 */
export async function startSla(tx: TenantTx, ticketId: string, receivedAt: string | Date): Promise<SlaColumns> {
  // A set-returning function over the kept list: beyond the query builder, so one sql statement (every value a parameter).
  const {
    rows: [row],
  } = await sql<{ due_at: Date }>`
    insert into ticket_slas (tenant_id, ticket_id, workflow_key, first_decision_minutes, escalate_to_team_lead, due_at)
    select q.tenant_id, ${ticketId}::uuid, w->>'key', (w->>'firstDecisionMinutes')::int, (w->>'escalateToTeamLead')::boolean,
           ${receivedAt}::timestamptz + make_interval(mins => (w->>'firstDecisionMinutes')::int)
    from queue_workflows q cross join lateral jsonb_array_elements(q.workflows) w
    where (w->>'isDefault')::boolean
    limit 1
    on conflict do nothing
    returning due_at`.execute(tx.db);
  return { sla_due_at: row?.due_at ?? null, sla_decided_at: null, sla_breached_at: null, sla_escalated_to: null };
}

/** The first decision on a ticket (approve, edit, reject, a hand-written reply) clears its SLA; later ones change nothing. */
export async function slaDecided(tx: TenantTx, ticketId: string): Promise<void> {
  await tx.db.updateTable('ticket_slas').set({ first_decision_at: sql<Date>`now()` }).where('ticket_id', '=', ticketId).where('first_decision_at', 'is', null).execute();
}

/**
 * Flags the tenant's tickets whose SLA ran out by `now` without a first decision (at most `limit`
 * of them, the longest overdue first), escalates each to its assignee's team lead when its workflow
 * says so, and publishes one ticket.sla-breached per ticket, all in the caller's tenant transaction.
 * Exactly once: a ticket is flagged only while not flagged, by a statement that skips rows another
 * sweep holds, and its event goes out in the transaction that flags it. Returns the breaches.
 */
export async function flagOverdue(tx: TenantTx, tenantId: TenantId, now: Date, limit = 500): Promise<TicketSlaBreachedV1[]> {
  const flagged = await tx.db
    .updateTable('ticket_slas')
    .set({ breached_at: now })
    .where('ticket_id', 'in', (eb) =>
      eb
        .selectFrom('ticket_slas as o')
        .select('o.ticket_id')
        .where('o.first_decision_at', 'is', null)
        .where('o.breached_at', 'is', null)
        .where('o.due_at', '<=', now)
        .orderBy('o.due_at')
        .limit(limit)
        .forUpdate()
        .skipLocked(),
    )
    .where('first_decision_at', 'is', null)
    .where('breached_at', 'is', null)
    .returning(['ticket_id', 'workflow_key', 'first_decision_minutes', 'escalate_to_team_lead', 'due_at', 'breached_at'])
    .execute();
  if (flagged.length === 0) return [];
  // Each ticket's assignee and the assignee's team lead (an active team lead of the same team, other
  // than the assignee; of several, the longest-standing), from drafts' own queue members.
  const owners = await tx.db
    .selectFrom('tickets as t')
    .select(['t.id', 't.assignee_id'])
    .select((eb) =>
      eb
        .selectFrom('queue_members as a')
        .innerJoin('queue_members as l', 'l.team', 'a.team')
        .select('l.user_id')
        .whereRef('a.user_id', '=', 't.assignee_id')
        .where('l.role', '=', 'team_lead')
        .where('l.status', '=', 'active')
        .whereRef('l.user_id', '<>', 't.assignee_id')
        .orderBy('l.user_id')
        .limit(1)
        .as('lead'),
    )
    .where(
      't.id',
      'in',
      flagged.map((f) => f.ticket_id),
    )
    .execute();
  const byTicket = new Map(owners.map((o) => [o.id, o]));
  const breaches: TicketSlaBreachedV1[] = [];
  for (const f of flagged) {
    const owner = byTicket.get(f.ticket_id);
    const lead = owner?.lead ?? null;
    const escalation: SlaEscalation = !f.escalate_to_team_lead ? 'none' : lead ? 'team_lead' : 'no_team_lead';
    const escalatedTo = escalation === 'team_lead' ? lead : null;
    if (escalatedTo) await tx.db.updateTable('ticket_slas').set({ escalated_to: escalatedTo }).where('ticket_id', '=', f.ticket_id).execute();
    breaches.push({
      tenantId,
      ticketId: f.ticket_id,
      workflowKey: f.workflow_key,
      firstDecisionMinutes: f.first_decision_minutes,
      dueAt: f.due_at.toISOString(),
      breachedAt: f.breached_at!.toISOString(),
      assigneeId: owner?.assignee_id ?? null,
      escalation,
      escalatedTo,
    });
  }
  const meta = draftsEventMeta(tenantId);
  await publishManyInTx(
    tx,
    breaches.map((payload) => ({ type: SlaEvents.BREACHED, payload, meta })),
  );
  return breaches;
}
