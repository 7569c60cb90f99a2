-- Regions (issue 14, item 8): a tenant's region is fixed at sign-up (data residency) and the tenant
-- record says where its data lives. Tenants that existed before take the region of the shard they
-- are placed on (every shard had one since 20261210100000_shard_registry); a tenant never placed
-- takes the platform's default region 'local', which is also the default of an insert that names
-- none (the region of every shard registered before regions existed).
alter table tenants add column region text;
update tenants t set region = s.region from tenant_placements p join shards s on s.id = p.shard_id where p.tenant_id = t.id;
update tenants set region = 'local' where region is null;
alter table tenants alter column region set default 'local', alter column region set not null;
alter table tenants add constraint tenants_region_format check (region ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$');

-- Residency held by the database itself: a tenant's placement is on a shard of the tenant's region,
-- checked when the placing (or moving, or region-changing) transaction commits. Deferred, so a move
-- to another region that ops forced changes the placement and the tenant's region in one
-- transaction, in either order; a placement, a region or a shard's region that would put a tenant's
-- data outside its region is refused whatever code tried it.
create or replace function check_tenant_region() returns trigger
  language plpgsql set search_path = public as $$
declare
  bad record;
begin
  if tg_table_name = 'shards' then
    select t.id, t.region, s.name as shard, s.region as shard_region into bad
      from tenant_placements p join tenants t on t.id = p.tenant_id join shards s on s.id = p.shard_id
     where p.shard_id = new.id and t.region <> s.region
     limit 1;
  elsif tg_table_name = 'tenants' then
    select t.id, t.region, s.name as shard, s.region as shard_region into bad
      from tenant_placements p join tenants t on t.id = p.tenant_id join shards s on s.id = p.shard_id
     where p.tenant_id = new.id and t.region <> s.region;
  else
    select t.id, t.region, s.name as shard, s.region as shard_region into bad
      from tenant_placements p join tenants t on t.id = p.tenant_id join shards s on s.id = p.shard_id
     where p.tenant_id = new.tenant_id and t.region <> s.region;
  end if;
  if found then
    raise exception 'tenant % is in region % but would be placed on shard % of region %: a tenant''s data stays in its region (a move that ops force to another region changes the tenant''s region with its placement)',
      bad.id, bad.region, bad.shard, bad.shard_region using errcode = 'check_violation';
  end if;
  return null;
end $$;

create constraint trigger tenant_placements_region after insert or update of shard_id on tenant_placements
  deferrable initially deferred for each row execute function check_tenant_region();
create constraint trigger tenants_region after update of region on tenants
  deferrable initially deferred for each row execute function check_tenant_region();
create constraint trigger shards_region after update of region on shards
  deferrable initially deferred for each row execute function check_tenant_region();
