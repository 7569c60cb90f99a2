-- Every process's shard router keeps placements without a time limit and drops a tenant's entry when
-- this notification names it (and every entry when its listener reconnects): a placement that moves
-- (a tenant move's cut-over, a restore onto another shard) or goes (a discarded sign-up) is followed
-- at once, everywhere. Payload `<tenant id>:<version>` (0 when the placement was deleted), sent at
-- commit. A placement that is only inserted notifies nothing: no router holds it yet.
create function tenant_placements_notify() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' then
    perform pg_notify('hotdash_placements', old.tenant_id::text || ':0');
  else
    perform pg_notify('hotdash_placements', new.tenant_id::text || ':' || new.version);
  end if;
  return null;
end $$;
create trigger tenant_placements_notify_update after update of shard_id, version on tenant_placements
  for each row when (old.shard_id is distinct from new.shard_id or old.version is distinct from new.version)
  execute function tenant_placements_notify();
create trigger tenant_placements_notify_delete after delete on tenant_placements
  for each row execute function tenant_placements_notify();
