-- Erasure of one tenant's rows from this shard (offboarding, GDPR erasure). The application role
-- has no DELETE on the append-only audit log and must not get it; it may only call this function,
-- which runs as the owner, in the tenant's context (the owner is subject to the forced policies
-- too), over every table that has a tenant_id column, children before the tables they reference.
create function erase_tenant(p_tenant_id uuid) returns table (table_name text, deleted bigint)
  language plpgsql security definer set search_path = public as $$
declare
  t record;
  n bigint;
  remaining text[];
  progress boolean;
begin
  perform set_config('app.tenant_id', p_tenant_id::text, true);
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
        table_name := t.relname; deleted := n; return next;
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
