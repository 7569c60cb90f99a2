-- tenant_gate (20261214100000_tenant_moves), made cheaper and exact for a transaction that waited
-- out a tenant's pause:
-- - the tenant setting and the lock as plpgsql simple expressions (no executor run of their own),
--   the lock first tried without waiting;
-- - a transaction that had to wait for the pause reads the fence after the wait. In READ COMMITTED
--   the fence's select takes a fresh snapshot (a volatile function's statements each do), so it sees
--   the decision a mover committed while it waited. A REPEATABLE READ transaction's snapshot was
--   taken when its first statement (this one) began, before the wait: it cannot see that decision,
--   so it is refused (HDM01, DETAIL `paused`) and withTenant runs it again with a new snapshot. A
--   single SQL statement `select set_config(…), pg_advisory_xact_lock_shared(…), (select … from
--   tenant_fences …)` would have that flaw in every isolation level, which is why the gate is plpgsql.
create or replace function tenant_gate(p_tenant uuid) returns void
language plpgsql
as $$
declare
  setting text;
  f record;
begin
  setting := pg_catalog.set_config('app.tenant_id', p_tenant::text, true);
  if not pg_catalog.pg_try_advisory_xact_lock_shared(72011260, pg_catalog.hashtext(p_tenant::text)) then
    perform pg_catalog.pg_advisory_xact_lock_shared(72011260, pg_catalog.hashtext(p_tenant::text));
    if pg_catalog.current_setting('transaction_isolation') <> 'read committed' then
      raise exception 'tenant % was paused while this transaction began', p_tenant
        using errcode = 'HDM01', detail = 'paused', hint = 'run the transaction again';
    end if;
  end if;
  select moved_to_shard, placement_version into f from public.tenant_fences where tenant_id = p_tenant;
  if found then
    raise exception 'tenant % is not served by this shard', p_tenant
      using errcode = 'HDM01',
            detail = coalesce(f.moved_to_shard::text || ':' || f.placement_version, 'moving-in'),
            hint = 'route the tenant by its placement again';
  end if;
end
$$;
