-- The provisioning saga's first compensation removes a tenant that never became active: its key
-- row, placement and tenant row. Only the application role's provisioning code does this, and
-- only for tenants still in 'provisioning' (checked in the statement itself).
grant delete on tenants, tenant_placements, tenant_keys to hotdash_app;
