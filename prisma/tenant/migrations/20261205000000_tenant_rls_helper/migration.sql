-- One way to put a tenant table under isolation (DESIGN.md §3.1), instead of the block each earlier
-- migration copied: a later migration creates its table (tenant_id uuid not null, an index leading
-- with it) and then calls
--   select enable_tenant_rls('my_table');
-- which enables and forces row-level security and creates the tenant_isolation policy with the
-- exact expressions the catalogue guard checks. Only the owner (who runs migrations) may call it.
create function enable_tenant_rls(p_table regclass) returns void
language plpgsql
set search_path = public, pg_catalog
as $$
begin
  execute format('alter table %s enable row level security', p_table);
  execute format('alter table %s force row level security', p_table);
  execute format($p$create policy tenant_isolation on %s
    using      (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))$p$, p_table);
end
$$;

revoke all on function enable_tenant_rls(regclass) from public;
