-- erase_tenant also reports the head of the tenant's audit chain as it was before the erasure, so
-- that the offboarding record keeps it (issue 13, item 4: provisioning, which records offboardings,
-- reads no table of audit's). A new output column, audit_head_hash: on the row of audit_heads, the
-- hash of the head it deleted (null when the tenant had no audit chain); null on every other row.
-- The head is read, and locked, before anything is deleted: an append still in flight finishes
-- first, so the head reported is the last entry of what is erased. Everything else is as before:
-- every table with a tenant_id column, children before the tables they reference, in the tenant's
-- context, as the owner. The output columns change, so the function is dropped and made again
-- (with its grants).
drop function erase_tenant(uuid);

create function erase_tenant(p_tenant_id uuid) returns table (table_name text, deleted bigint, audit_head_hash text)
  language plpgsql security definer set search_path = public as $$
declare
  t record;
  n bigint;
  remaining text[];
  progress boolean;
  head text;
begin
  perform set_config('app.tenant_id', p_tenant_id::text, true);
  select h.hash into head from audit_heads h where h.tenant_id = p_tenant_id for update;
  select array_agg(c.relname::text order by c.relname) into remaining
    from pg_class c join pg_namespace s on s.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
    where s.nspname = 'public' and c.relkind = 'r';
  -- Delete from a table only once no remaining table references it.
  while coalesce(array_length(remaining, 1), 0) > 0 loop
    progress := false;
    for t in select r as relname from unnest(remaining) r loop
      if not exists (
        select 1 from pg_constraint con join pg_class child on child.oid = con.conrelid join pg_class parent on parent.oid = con.confrelid
        where con.contype = 'f' and parent.relname = t.relname and child.relname = any(remaining) and child.relname <> t.relname
      ) then
        execute format('delete from %I where tenant_id = $1', t.relname) using p_tenant_id;
        get diagnostics n = row_count;
        table_name := t.relname; deleted := n;
        audit_head_hash := case when t.relname = 'audit_heads' then head end;
        return next;
        remaining := array_remove(remaining, t.relname);
        progress := true;
      end if;
    end loop;
    if not progress then
      raise exception 'erase_tenant: foreign keys between % form a cycle', remaining;
    end if;
  end loop;
end $$;

revoke all on function erase_tenant(uuid) from public;
grant execute on function erase_tenant(uuid) to hotdash_app;
