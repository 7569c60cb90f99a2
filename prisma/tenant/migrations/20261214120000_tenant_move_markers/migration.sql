-- A tenant move's catch-up markers (docs/tenant-move.md §5): while the mover holds the tenant's pause
-- it writes marker n on the source; once the row is on the target, every earlier commit of the
-- tenant is applied there (the subscription applies in commit order). Replicated with the tenant's
-- rows (its primary key holds tenant_id: the replica identity needs nothing more); written only by
-- the mover as the owner, so the application role has no grant on it; removed with the tenant's rows
-- when the move cleans up.
create table tenant_move_markers (
  tenant_id uuid not null,
  move_id   uuid not null,
  n         bigint not null,
  at        timestamptz(6) not null default now(),
  primary key (tenant_id, move_id)
);
select enable_tenant_rls('tenant_move_markers');
