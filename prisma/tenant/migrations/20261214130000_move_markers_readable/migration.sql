-- The application role may read a tenant's move markers (under the table's RLS, its own tenant's
-- only), like every other tenant table: whoever checks "nothing of the tenant is left" (offboarding,
-- a failed sign-up's compensation) reads every table with a tenant_id as that role. Still written
-- only by the mover as the owner.
grant select on tenant_move_markers to hotdash_app;
