-- The shard registry of the ops API (issue 14, item 2).

-- Shards carry a region. Shards registered before regions existed, and the bootstrap shards that
-- `npm run db:migrate` registers, are in the platform's default region 'local'; the ops API always
-- names one. Placement does not read it yet (a tenant's region comes with data residency).
alter table shards add column region text not null default 'local';
alter table shards add constraint shards_region_format check (region ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$');
grant insert (region) on shards to hotdash_app;

-- What the ops team did that belongs to no tenant (registering, draining, activating, retiring a
-- shard; migrating every database), refusals included. An ops action on a tenant is an entry in
-- that tenant's audit log instead. Append-only for the services: no UPDATE or DELETE grant.
create table ops_actions (
  id      uuid primary key,
  actor   text not null check (char_length(actor) between 1 and 200),
  action  text not null check (char_length(action) between 1 and 100),
  target  text not null check (char_length(target) between 1 and 200),
  -- done, unchanged, or the problem code of a refusal
  outcome text not null check (char_length(outcome) between 1 and 100),
  detail  jsonb not null default '{}',
  at      timestamptz(6) not null default now()
);
grant select, insert on ops_actions to hotdash_app;

-- A retired shard takes no tenant, even one whose placement was chosen while the shard was still
-- active: the count runs at the placing transaction's commit and waits for the row lock of a
-- concurrent retirement, so it sees the shard's final status and refuses (the sign-up's step is
-- retried and picks another shard). Retiring checks the placements under that lock, so between
-- the two no tenant can end up on a retired shard.
create or replace function count_shard_tenants() returns trigger
  language plpgsql security definer set search_path = public as $$
declare
  placed_on text;
begin
  if tg_op = 'INSERT' then
    update shards set tenant_count = tenant_count + 1 where id = new.shard_id returning status into placed_on;
  elsif tg_op = 'DELETE' then
    update shards set tenant_count = tenant_count - 1 where id = old.shard_id;
  else
    -- a move: both shards in one statement (one lock order for concurrent moves)
    update shards set tenant_count = tenant_count + case when id = new.shard_id then 1 else -1 end
    where id in (old.shard_id, new.shard_id);
    select status into placed_on from shards where id = new.shard_id;
  end if;
  if placed_on = 'retired' then
    raise exception 'shard % is retired: no tenant can be placed on it', new.shard_id using errcode = 'check_violation';
  end if;
  return null;
end $$;
