-- Knowledge-base sources under the tenant's data key (issue 15 item 6). A document's source (the
-- upload as sent) is stored sealed by FieldCipher.encryptBytes in source_enc; `source` and `content`
-- (the clear forms rows written before this migration hold) are emptied by the knowledge service's
-- sealing sweep, which finds them across every tenant of the shard with clear_document_sources_sweep:
-- ids only, run as the owner, like stored_documents_sweep. Destroying a tenant's key makes its
-- sources unreadable with everything else it encrypted.
alter table kb_documents add column source_enc bytea;

-- Rows still holding a clear source or content: few, and none once the sweep has sealed them.
create index kb_documents_clear_source_idx on kb_documents (tenant_id, id) where source is not null or content <> '';

-- The owner reads clear rows of every tenant only inside the function (hotdash.kb_seal_sweep 'on').
create policy kb_documents_seal_sweep on kb_documents for select to current_user
  using ((source is not null or content <> '') and (select current_setting('hotdash.kb_seal_sweep', true)) = 'on');

-- Pages in (tenant_id, id) order after (p_after_tenant, p_after_id); at most 1000 rows a call.
create function clear_document_sources_sweep(p_limit integer, p_after_tenant uuid default null, p_after_id uuid default null)
  returns table (tenant_id uuid, id uuid)
  language plpgsql security definer set search_path = public as $$
begin
  perform set_config('hotdash.kb_seal_sweep', 'on', true);
  return query
    select d.tenant_id, d.id
    from kb_documents d
    where (d.source is not null or d.content <> '')
      and (p_after_tenant is null or (d.tenant_id, d.id) > (p_after_tenant, coalesce(p_after_id, '00000000-0000-0000-0000-000000000000'::uuid)))
    order by d.tenant_id, d.id
    limit least(greatest(p_limit, 0), 1000);
  perform set_config('hotdash.kb_seal_sweep', '', true);
end $$;

revoke all on function clear_document_sources_sweep(integer, uuid, uuid) from public;
grant execute on function clear_document_sources_sweep(integer, uuid, uuid) to hotdash_app;
