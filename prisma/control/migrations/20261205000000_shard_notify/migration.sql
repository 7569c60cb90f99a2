-- A shard registered (or brought back, or moved) while the relay runs is picked up at once: the
-- relay LISTENs on hotdash_shards and re-reads the shard list when notified (and every few seconds
-- in case a notification was lost). Only the columns that locate a shard or say whether it is
-- relayed notify: tenant_count, updated at every placement, does not.
create function shards_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('hotdash_shards', '');
  return null;
end $$;
create trigger shards_notify after insert or update of host, port, database, status on shards
  for each statement execute function shards_notify();
