-- Live tenant moves (issue 14 item 3, docs/tenant-move.md): what every shard needs before a tenant
-- can be moved off it or onto it.
--
-- 1. Replica identity that carries tenant_id. A move replicates the tenant's rows with a
--    publication row-filtered on tenant_id; PostgreSQL then refuses every UPDATE and DELETE of a
--    published table (every tenant's, not only the moving one's) unless tenant_id is part of the
--    table's replica identity. Tables whose primary key holds tenant_id have it already (the
--    default identity). The others use a unique, not-null index leading with tenant_id: an existing
--    one, or a new (tenant_id, id) one. The queues (outbox, mail_outbox) are moved by the mover, not
--    replicated, but get the same rule so the catalogue guard can check one rule for every table:
--    outbox's (tenant_id, seq) index replaces outbox_tenant_idx (the pause reads a tenant's queue
--    rows in seq order as a range scan). USING INDEX costs 16 bytes of WAL per delete, nothing per
--    update (the old key is logged only when it changes); FULL would cost ~300 bytes per update.
create unique index api_keys_tenant_id_id_key on api_keys (tenant_id, id);
create unique index invitations_tenant_id_id_key on invitations (tenant_id, id);
create unique index kb_documents_tenant_id_id_key on kb_documents (tenant_id, id);
create unique index password_resets_tenant_id_id_key on password_resets (tenant_id, id);
create unique index quota_reservations_tenant_id_id_key on quota_reservations (tenant_id, id);
create unique index refresh_tokens_tenant_id_id_key on refresh_tokens (tenant_id, id);
create unique index mail_outbox_tenant_id_id_key on mail_outbox (tenant_id, id);
create unique index outbox_tenant_id_seq_key on outbox (tenant_id, seq);
drop index outbox_tenant_idx;

alter table api_keys replica identity using index api_keys_tenant_id_id_key;
alter table invitations replica identity using index invitations_tenant_id_id_key;
alter table kb_documents replica identity using index kb_documents_tenant_id_id_key;
alter table password_resets replica identity using index password_resets_tenant_id_id_key;
alter table quota_reservations replica identity using index quota_reservations_tenant_id_id_key;
alter table refresh_tokens replica identity using index refresh_tokens_tenant_id_id_key;
alter table mail_outbox replica identity using index mail_outbox_tenant_id_id_key;
alter table outbox replica identity using index outbox_tenant_id_seq_key;
alter table approval_workflows replica identity using index approval_workflows_tenant_id_key_key;
alter table audit_log replica identity using index audit_log_tenant_id_seq_key;
alter table auth_sessions replica identity using index auth_sessions_tenant_id_id_key;
alter table drafts replica identity using index drafts_tenant_id_ticket_id_attempt_key;
alter table tickets replica identity using index tickets_tenant_id_id_key;
alter table users replica identity using index users_tenant_id_id_key;

-- 2. Fences. A row here means "this shard does not serve the tenant": on a move's target while the
--    move copies into it (moved_to_shard null), on the source from the move's decision on, naming
--    where the tenant went and the placement version that says so (kept as a tombstone after the
--    source's rows are deleted). Tenant data like any other (RLS), written only by the mover; the
--    application role reads its own tenant's fence in the gate below.
create table tenant_fences (
  tenant_id         uuid primary key,
  move_id           uuid not null,
  moved_to_shard    uuid,
  placement_version integer,
  fenced_at         timestamptz(6) not null default now(),
  constraint tenant_fences_destination check ((moved_to_shard is null) = (placement_version is null)),
  constraint tenant_fences_version check (placement_version is null or placement_version > 1)
);
select enable_tenant_rls('tenant_fences');
grant select on tenant_fences to hotdash_app;

-- 3. The gate: the opening of every tenant transaction (withTenant sends `select tenant_gate($1)`
--    right after `begin`, as one named prepared statement). It sets the tenant (the setting every
--    tenant_isolation policy reads), takes the tenant's pause lock shared (a mover takes it
--    exclusively to pause this tenant alone: in-flight transactions finish, new ones wait) and
--    refuses a fenced tenant before any statement of the transaction runs, with SQLSTATE HDM01 and,
--    in DETAIL, `<shard id>:<placement version>` of where the tenant went, or `moving-in`. The
--    two-int advisory key (72011260, hashtext(tenant)) never meets the platform's bigint keys.
--    Security invoker: the fence is read under the tenant's own RLS. No `set search_path` clause:
--    a function with one undoes every set_config(…, true) made inside it on exit, and the tenant
--    setting must outlive the call (the names are schema-qualified instead).
create function tenant_gate(p_tenant uuid) returns void
language plpgsql
as $$
declare
  f record;
begin
  perform pg_catalog.set_config('app.tenant_id', p_tenant::text, true);
  perform pg_catalog.pg_advisory_xact_lock_shared(72011260, pg_catalog.hashtext(p_tenant::text));
  select moved_to_shard, placement_version into f from public.tenant_fences where tenant_id = p_tenant;
  if found then
    raise exception 'tenant % is not served by this shard', p_tenant
      using errcode = 'HDM01',
            detail = coalesce(f.moved_to_shard::text || ':' || f.placement_version, 'moving-in'),
            hint = 'route the tenant by its placement again';
  end if;
end
$$;
revoke all on function tenant_gate(uuid) from public;
grant execute on function tenant_gate(uuid) to hotdash_app;

-- 4. enable_tenant_rls also gives a new tenant table the replica identity moves need (1.): its primary
--    key when that holds tenant_id, else its first unique, non-partial index over not-null columns
--    that holds tenant_id. A table with neither is reported by the catalogue guard.
create or replace function enable_tenant_rls(p_table regclass) returns void
language plpgsql
set search_path = public, pg_catalog
as $$
declare
  identity_index name;
begin
  execute format('alter table %s enable row level security', p_table);
  execute format('alter table %s force row level security', p_table);
  execute format($p$create policy tenant_isolation on %s
    using      (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))
    with check (tenant_id = (select nullif(current_setting('app.tenant_id', true), '')::uuid))$p$, p_table);
  if not exists (
    select 1 from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
    where i.indrelid = p_table and i.indisprimary and a.attname = 'tenant_id'
  ) then
    select ic.relname into identity_index
    from pg_index i join pg_class ic on ic.oid = i.indexrelid
    where i.indrelid = p_table and i.indisunique and i.indimmediate and i.indpred is null and i.indexprs is null
      and exists (select 1 from pg_attribute a where a.attrelid = p_table and a.attnum = any(i.indkey) and a.attname = 'tenant_id')
      and not exists (select 1 from pg_attribute a where a.attrelid = p_table and a.attnum = any(i.indkey) and not a.attnotnull)
    order by i.indnatts, ic.relname
    limit 1;
    if identity_index is not null then
      execute format('alter table %s replica identity using index %I', p_table, identity_index);
    end if;
  end if;
end
$$;
revoke all on function enable_tenant_rls(regclass) from public;
