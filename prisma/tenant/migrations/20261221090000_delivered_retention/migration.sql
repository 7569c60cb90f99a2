-- Retention of what the shard has delivered (the relay's retention sweep,
-- libs/platform/messaging/src/delivered-retention.ts): the outbox's published events, the inbox's
-- applied-event ids and the mail outbox's sent mail grew without end. prune_delivered deletes, across
-- the shard's tenants, the rows older than the retention the caller gives, at most p_limit per table
-- and call, and returns the counts (never a row's content). Rows still to deliver, and rows set
-- aside as undeliverable (failed_at: ops look at them), are never deleted.
--
-- Tenant moves: a tenant fenced on this shard (moved away, its rows kept for the verification after
-- the cut-over; or moving in) keeps its rows. While a move publishes from this shard (a tmove_
-- publication exists: the copy, the queues' history and both verifications compare the two sides)
-- nothing is deleted and the publication's name is returned in held_by. The mover takes the
-- retention lock (7201126003) exclusively while it creates a publication, and this function takes it
-- shared: a sweep that began before the publication ends before it exists, one that begins after
-- sees it.
--
-- Runs as the owner, subject to the forced policies like every role: the delivered_retention
-- policies let it see and delete rows of every tenant only while hotdash.retention is 'on', which
-- the function sets for its own duration (the set search_path clause undoes it on exit); they apply
-- to no other role. Executable by the relay role only.

-- The rows found by age through BRIN indexes: a table's rows lie in the order of these times
-- (inserted, or for the outbox and mail outbox updated when delivered, in time order), so a few
-- pages of index name the old pages, and an insert or update adds next to nothing.
create index inbox_processed_idx on inbox using brin (processed_at);
create index outbox_published_idx on outbox using brin (published_at);
create index mail_outbox_sent_idx on mail_outbox using brin (sent_at);

create policy delivered_retention on outbox for all to current_user
  using ((select current_setting('hotdash.retention', true)) = 'on');
create policy delivered_retention on inbox for all to current_user
  using ((select current_setting('hotdash.retention', true)) = 'on');
create policy delivered_retention on mail_outbox for all to current_user
  using ((select current_setting('hotdash.retention', true)) = 'on');
create policy delivered_retention on tenant_fences for select to current_user
  using ((select current_setting('hotdash.retention', true)) = 'on');

create function prune_delivered(p_outbox interval, p_inbox interval, p_mail interval, p_limit integer)
  returns table (outbox_rows bigint, inbox_rows bigint, mail_rows bigint, held_by text)
  language plpgsql security definer set search_path = public as $$
declare
  lim integer := least(greatest(p_limit, 0), 10000);
  publication text;
begin
  outbox_rows := 0;
  inbox_rows := 0;
  mail_rows := 0;
  if not pg_try_advisory_xact_lock_shared(7201126003) then
    held_by := 'a tenant move creating its publication';
    return next;
    return;
  end if;
  select pubname into publication from pg_publication where pubname like 'tmove\_%' order by pubname limit 1;
  if found then
    held_by := publication;
    return next;
    return;
  end if;
  perform set_config('hotdash.retention', 'on', true);

  with doomed as (
    select o.seq from outbox o
    where o.published_at < now() - p_outbox
      and not exists (select 1 from tenant_fences f where f.tenant_id = o.tenant_id)
    limit lim
    for update skip locked
  )
  delete from outbox o using doomed d where o.seq = d.seq;
  get diagnostics outbox_rows = row_count;

  with doomed as (
    select i.tenant_id, i.consumer, i.event_id from inbox i
    where i.processed_at < now() - p_inbox
      and not exists (select 1 from tenant_fences f where f.tenant_id = i.tenant_id)
    limit lim
    for update skip locked
  )
  delete from inbox i using doomed d where (i.tenant_id, i.consumer, i.event_id) = (d.tenant_id, d.consumer, d.event_id);
  get diagnostics inbox_rows = row_count;

  with doomed as (
    select m.id from mail_outbox m
    where m.sent_at < now() - p_mail
      and not exists (select 1 from tenant_fences f where f.tenant_id = m.tenant_id)
    limit lim
    for update skip locked
  )
  delete from mail_outbox m using doomed d where m.id = d.id;
  get diagnostics mail_rows = row_count;

  return next;
end $$;

revoke all on function prune_delivered(interval, interval, interval, integer) from public;
grant execute on function prune_delivered(interval, interval, interval, integer) to hotdash_relay;
