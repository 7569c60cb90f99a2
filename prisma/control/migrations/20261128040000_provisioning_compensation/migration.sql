-- The provisioning saga's first compensation removes a tenant that never became active: its key
-- row, placement and tenant row. The application role gets no DELETE on these tables; it may only
-- call this function, which runs as the owner and refuses any tenant not in 'provisioning'.
create function discard_provisioning_tenant(p_tenant_id uuid) returns boolean
  language plpgsql security definer set search_path = public as $$
declare
  v_status text;
begin
  select status into v_status from tenants where id = p_tenant_id for update;
  if not found then
    return false;
  end if;
  if v_status <> 'provisioning' then
    raise exception 'tenant % is %, not provisioning: refusing to discard it', p_tenant_id, v_status using errcode = 'P0001';
  end if;
  delete from tenant_keys where tenant_id = p_tenant_id;
  delete from tenant_placements where tenant_id = p_tenant_id;
  delete from tenants where id = p_tenant_id;
  return true;
end $$;

revoke all on function discard_provisioning_tenant(uuid) from public;
grant execute on function discard_provisioning_tenant(uuid) to hotdash_app;
