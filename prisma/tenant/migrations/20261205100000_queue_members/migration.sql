-- The drafts service's own view of the tenant's operators (issue 13, item 4: one owner per table):
-- who can be given tickets (active operators), and which team a team lead sees. Kept from the
-- operator.* events provisioning publishes (invited, joined, role-changed, team-changed, removed),
-- each applied once through the drafts consumer's inbox; drafts no longer reads users.
create table queue_members (
  tenant_id  uuid not null,
  user_id    uuid not null,
  role       text not null check (role in ('operator', 'team_lead', 'manager', 'admin')),
  -- the team they work in (null: none); a team lead sees the tickets of their team's operators
  team       text check (team is null or length(team) between 1 and 100),
  status     text not null check (status in ('invited', 'active', 'removed')),
  -- the instant of the operator's last change applied here (the event's `at`): an older event is
  -- ignored, whatever order events arrive in. A removed member stays (tickets keep their assignee).
  updated_at timestamptz(6) not null,
  primary key (tenant_id, user_id)
);
create index queue_members_team_idx on queue_members (tenant_id, team) where team is not null;

-- Existing tenants keep working: the members as users has them now (RLS on users is lifted for the
-- backfill only, inside this migration's transaction: the owner runs migrations).
alter table users no force row level security;
insert into queue_members (tenant_id, user_id, role, team, status, updated_at)
  select tenant_id, id, role, team, status, updated_at from users;
alter table users force row level security;

select enable_tenant_rls('queue_members');
-- No delete: members are never forgotten (erase_tenant runs as the owner).
grant select, insert, update on queue_members to hotdash_app;

-- A ticket's assignee is one of drafts' own queue members, no longer a row of provisioning's users.
alter table tickets drop constraint tickets_tenant_id_assignee_id_fkey;
alter table tickets add constraint tickets_tenant_id_assignee_id_fkey
  foreign key (tenant_id, assignee_id) references queue_members (tenant_id, user_id);
