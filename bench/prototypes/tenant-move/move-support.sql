-- Candidate tenant migration for live tenant moves (prototype; applied to the scratch shards only).
--
-- 1. Replica identity that carries tenant_id. A publication with a row filter on tenant_id refuses
--    UPDATE and DELETE on the WHOLE table (every tenant's, not only the moving one's: "Column used in
--    the publication WHERE expression is not part of the replica identity") unless tenant_id is in
--    the replica identity. Tables whose primary key holds tenant_id need nothing. The others use a
--    unique not-null index that leads with tenant_id: an existing one where there is one, else a new
--    (tenant_id, id) index. outbox and mail_outbox are not replicated (the mover moves their pending
--    rows itself), so they keep the default.
create unique index api_keys_tenant_id_id_key on api_keys (tenant_id, id);
create unique index invitations_tenant_id_id_key on invitations (tenant_id, id);
create unique index kb_documents_tenant_id_id_key on kb_documents (tenant_id, id);
create unique index password_resets_tenant_id_id_key on password_resets (tenant_id, id);
create unique index quota_reservations_tenant_id_id_key on quota_reservations (tenant_id, id);
create unique index refresh_tokens_tenant_id_id_key on refresh_tokens (tenant_id, id);
alter table api_keys replica identity using index api_keys_tenant_id_id_key;
alter table invitations replica identity using index invitations_tenant_id_id_key;
alter table kb_documents replica identity using index kb_documents_tenant_id_id_key;
alter table password_resets replica identity using index password_resets_tenant_id_id_key;
alter table quota_reservations replica identity using index quota_reservations_tenant_id_id_key;
alter table refresh_tokens replica identity using index refresh_tokens_tenant_id_id_key;
alter table approval_workflows replica identity using index approval_workflows_tenant_id_key_key;
alter table audit_log replica identity using index audit_log_tenant_id_seq_key;
alter table auth_sessions replica identity using index auth_sessions_tenant_id_id_key;
alter table drafts replica identity using index drafts_tenant_id_ticket_id_attempt_key;
alter table tickets replica identity using index tickets_tenant_id_id_key;
alter table users replica identity using index users_tenant_id_id_key;

-- 2. Fences: a row here means "this shard does not serve the tenant" (the target while a move copies
--    into it; the source once the move has cut over, naming where the tenant went). Every tenant
--    transaction checks it in its opening (tenant_gate), so a process whose placement cache is stale
--    can never write to the wrong copy, whatever happened to its notification.
create table tenant_fences (
  tenant_id         uuid primary key,
  move_id           uuid not null,
  -- where the tenant is served since the cut-over (null on a move's target before it)
  moved_to_shard    uuid,
  placement_version integer,
  fenced_at         timestamptz(6) not null default now()
);
select enable_tenant_rls('tenant_fences');
grant select on tenant_fences to hotdash_app;

-- 3. Catch-up markers: the mover inserts one on the source while it holds the tenant's pause; once
--    the row is on the target, every earlier commit of the tenant is applied there (the apply worker
--    applies in commit order).
create table tenant_move_markers (
  tenant_id uuid not null,
  move_id   uuid not null,
  n         bigint not null,
  at        timestamptz(6) not null default now(),
  primary key (tenant_id, move_id)
);
select enable_tenant_rls('tenant_move_markers');

-- 4. The gate every tenant transaction passes first: the tenant's pause (a shared advisory lock the
--    mover takes exclusively), then the fence.
create or replace function tenant_gate(p_tenant uuid) returns void language plpgsql as $$
declare
  f tenant_fences%rowtype;
begin
  perform pg_advisory_xact_lock_shared(72011260, hashtext(p_tenant::text));
  select * into f from tenant_fences where tenant_id = p_tenant;
  if found then
    -- DETAIL names where the tenant went (a router may go there at once, even before the control
    -- database says so: the fence is committed before the placement moves).
    raise exception 'tenant % is not served by this shard', p_tenant
      using errcode = 'HDM01', detail = coalesce(f.moved_to_shard::text || ':' || f.placement_version, 'moving-in');
  end if;
end $$;
grant execute on function tenant_gate(uuid) to hotdash_app;
