-- The approval SLA's enforcement (issue 16 item 1), all of it the drafts service's.
--
-- queue_workflows: drafts' own copy of a tenant's approval workflows and their SLAs, kept from the
-- tenant.approval-workflows-changed events provisioning publishes (drafts reads no
-- approval_workflows). One row per tenant: the complete list as the newest event had it
-- ([{key, name, isDefault, firstDecisionMinutes, escalateToTeamLead}]) and that event's settings
-- version; an event whose version is not higher changes nothing. No row: the tenant's admins never
-- changed the workflows since this was built, and its tickets get no SLA.
create table queue_workflows (
  tenant_id  uuid primary key,
  version    integer not null check (version >= 1),
  changed_at timestamptz(6) not null,
  workflows  jsonb not null check (jsonb_typeof(workflows) = 'array'),
  -- the event that set this row
  event_id   uuid not null,
  updated_at timestamptz(6) not null default now()
);
select enable_tenant_rls('queue_workflows');
grant select, insert, update on queue_workflows to hotdash_app;

-- ticket_slas: a ticket's SLA, set when the ticket is stored from the workflow that applied then
-- (a later change of the workflows applies to later tickets only): due_at = received_at + the
-- workflow's minutes to the first decision. first_decision_at: the first approve, edit, reject or
-- hand-written reply, which clears it. breached_at / escalated_to: set once by the SLA sweep, in
-- the transaction that publishes ticket.sla-breached (escalated_to: the assignee's team lead, when
-- the workflow escalates and the team has one). A ticket without a workflow has no row.
create table ticket_slas (
  tenant_id              uuid not null,
  ticket_id              uuid not null,
  workflow_key           text not null check (length(workflow_key) between 1 and 40),
  first_decision_minutes integer not null check (first_decision_minutes between 1 and 43200),
  escalate_to_team_lead  boolean not null,
  due_at                 timestamptz(6) not null,
  first_decision_at      timestamptz(6),
  breached_at            timestamptz(6),
  escalated_to           uuid,
  primary key (tenant_id, ticket_id),
  foreign key (tenant_id, ticket_id) references tickets (tenant_id, id) on delete cascade,
  check (escalated_to is null or breached_at is not null)
);
-- The sweep's look-up: SLAs still running, by due time.
create index ticket_slas_due_idx on ticket_slas (tenant_id, due_at) where first_decision_at is null and breached_at is null;
-- The queue's breached filter and the metrics' breaches in a period.
create index ticket_slas_breached_idx on ticket_slas (tenant_id, breached_at) where breached_at is not null;
select enable_tenant_rls('ticket_slas');
grant select, insert, update on ticket_slas to hotdash_app;

-- The SLA sweep finds the tenants of the shard with an SLA past due in one query (then flags each
-- tenant's tickets in that tenant's own transaction). The application role sees no row without a
-- tenant context and must not get a wider policy; it may only call this function, which runs as the
-- owner and returns tenant ids only — no ticket, no time, nothing of the tickets themselves.
-- The policy ticket_slas_sweep lets the owner read running SLAs of every tenant only while
-- hotdash.sla_sweep is 'on', which the function sets at its start and clears before it returns; it
-- applies to no other role (setting hotdash.sla_sweep gives the application role nothing).
create policy ticket_slas_sweep on ticket_slas for select to current_user
  using (first_decision_at is null and breached_at is null and (select current_setting('hotdash.sla_sweep', true)) = 'on');

-- Tenants with an SLA due at p_now or before and not flagged yet, in tenant_id order after
-- p_after_tenant; at most 1000 a call. Reads through ticket_slas_due_idx.
create function sla_overdue_tenants(p_now timestamptz, p_limit integer, p_after_tenant uuid default null)
  returns table (tenant_id uuid)
  language plpgsql security definer set search_path = public as $$
begin
  perform set_config('hotdash.sla_sweep', 'on', true);
  return query
    select distinct s.tenant_id
    from ticket_slas s
    where s.first_decision_at is null and s.breached_at is null and s.due_at <= p_now
      and (p_after_tenant is null or s.tenant_id > p_after_tenant)
    order by s.tenant_id
    limit least(greatest(p_limit, 0), 1000);
  perform set_config('hotdash.sla_sweep', '', true);
end $$;

revoke all on function sla_overdue_tenants(timestamptz, integer, uuid) from public;
grant execute on function sla_overdue_tenants(timestamptz, integer, uuid) to hotdash_app;
