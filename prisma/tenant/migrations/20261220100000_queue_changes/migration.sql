-- The approval queue's live updates (issue 16 item 3): every committed change to a ticket, and a
-- ticket's SLA breach or escalation, is announced on the shard's channel `hotdash_queue` as
--   <tenant id>:<ticket id>:<kind>:<previous assignee, when the assignee changed, else empty>
-- ids and a kind only, never ticket text. The drafts service LISTENs (libs/drafts queue-feed.ts) and
-- tells each caller's stream about the tickets of its queue. NOTIFY is transactional: listeners hear
-- a change when it commits, never one that rolled back, from whichever process made it.
--
-- Statement-level triggers with transition tables, so a statement over many rows costs one call.
-- A transaction that announces more than 100 changes (a restore, the erasure of many tickets, an
-- SLA sweep over a backlog) announces `<tenant id>:*:resync:` per tenant instead (PostgreSQL
-- delivers identical payloads of one transaction once): listeners re-read the queue. The count is
-- kept in the transaction-local setting hotdash.queue_announced. Logical replication's apply (a
-- tenant move) fires no ordinary trigger.
create function queue_announce(p_changes text[]) returns void
language plpgsql as $$
declare
  v_before integer := coalesce(nullif(current_setting('hotdash.queue_announced', true), '')::integer, 0);
  v_change text;
begin
  if p_changes is null or cardinality(p_changes) = 0 then
    return;
  end if;
  perform set_config('hotdash.queue_announced', (v_before + cardinality(p_changes))::text, true);
  if v_before + cardinality(p_changes) > 100 then
    for v_change in select distinct split_part(c, ':', 1) from unnest(p_changes) c loop
      perform pg_notify('hotdash_queue', v_change || ':*:resync:');
    end loop;
    return;
  end if;
  foreach v_change in array p_changes loop
    perform pg_notify('hotdash_queue', v_change);
  end loop;
end $$;

create function tickets_announce_inserted() returns trigger
language plpgsql as $$
begin
  perform queue_announce(array(select n.tenant_id || ':' || n.id || ':created:' from new_rows n));
  return null;
end $$;

-- The kind from the change: a new status names what happened; else a new assignee; else 'updated'.
-- The previous assignee rides along whenever the assignee changed (the listener tells them it left).
create function tickets_announce_updated() returns trigger
language plpgsql as $$
begin
  perform queue_announce(array(
    select n.tenant_id || ':' || n.id || ':'
      || case
           when n.status is distinct from o.status then
             case n.status
               when 'pending' then 'draft-ready'
               when 'draft_failed' then 'draft-failed'
               when 'replied' then 'decided'
               when 'rejected' then 'decided'
               when 'drafting' then 'drafting'
               else 'status'
             end
           when n.assignee_id is distinct from o.assignee_id then 'assigned'
           else 'updated'
         end
      || ':' || coalesce(case when n.assignee_id is distinct from o.assignee_id then o.assignee_id::text end, '')
    from new_rows n
    join old_rows o on o.tenant_id = n.tenant_id and o.id = n.id
    where row(n.*) is distinct from row(o.*)
  ));
  return null;
end $$;

create function tickets_announce_deleted() returns trigger
language plpgsql as $$
begin
  perform queue_announce(array(select o.tenant_id || ':' || o.id || ':removed:' || coalesce(o.assignee_id::text, '') from old_rows o));
  return null;
end $$;

create function ticket_slas_announce_updated() returns trigger
language plpgsql as $$
begin
  perform queue_announce(array(
    select n.tenant_id || ':' || n.ticket_id || ':sla-breached:'
    from new_rows n
    join old_rows o on o.tenant_id = n.tenant_id and o.ticket_id = n.ticket_id
    where (n.breached_at is not null and o.breached_at is null) or n.escalated_to is distinct from o.escalated_to
  ));
  return null;
end $$;

create trigger tickets_queue_inserted after insert on tickets
  referencing new table as new_rows for each statement execute function tickets_announce_inserted();
create trigger tickets_queue_updated after update on tickets
  referencing old table as old_rows new table as new_rows for each statement execute function tickets_announce_updated();
create trigger tickets_queue_deleted after delete on tickets
  referencing old table as old_rows for each statement execute function tickets_announce_deleted();
create trigger ticket_slas_queue_updated after update on ticket_slas
  referencing old table as old_rows new table as new_rows for each statement execute function ticket_slas_announce_updated();
