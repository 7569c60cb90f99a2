-- Retention of the control-plane outbox's published events (the relay's retention sweep,
-- libs/platform/messaging/src/delivered-retention.ts): prune_delivered deletes the rows published
-- longer ago than p_outbox, at most p_limit a call, and returns how many. Rows still
-- to publish, and rows set aside as unpublishable (failed_at: ops look at them), are never deleted.
-- Runs as the owner (the control database's outbox has no row-level security); executable by the
-- relay role only, which may otherwise read and mark the outbox and nothing else. The old rows are
-- found through a BRIN index on published_at (rows lie in the order they were published).
create index outbox_published_idx on outbox using brin (published_at);

create function prune_delivered(p_outbox interval, p_limit integer)
  returns bigint
  language plpgsql security definer set search_path = public as $$
declare
  lim integer := least(greatest(p_limit, 0), 10000);
  n bigint;
begin
  with doomed as (
    select o.seq from outbox o
    where o.published_at < now() - p_outbox
    limit lim
    for update skip locked
  )
  delete from outbox o using doomed d where o.seq = d.seq;
  get diagnostics n = row_count;
  return n;
end $$;

revoke all on function prune_delivered(interval, integer) from public;
grant execute on function prune_delivered(interval, integer) to hotdash_relay;
