-- The knowledge service's recovery sweep (issue 13 item 5): documents committed but never queued
-- for indexing (the process died between the commit and the queueing, or the queueing failed) are
-- found across every tenant of the shard in one query, not tenant by tenant. The application role
-- sees no row without a tenant context (forced RLS) and must not get a wider policy; it may only
-- call this function, which runs as the owner and returns the ids and versions of documents
-- waiting to be indexed ('stored', or 'queued' by an upload or a submission) that have not
-- changed for p_grace — never a title, a source or any other content.
--
-- The owner is subject to the forced policies too. The policy kb_documents_sweep lets it read
-- waiting rows of every tenant only while hotdash.kb_sweep is 'on', which the function sets at its
-- start and clears before it returns; the policy applies to no other role (setting hotdash.kb_sweep
-- gives the application role nothing).
create policy kb_documents_sweep on kb_documents for select to current_user
  using (status in ('stored', 'queued') and (select current_setting('hotdash.kb_sweep', true)) = 'on');

-- Pages in (tenant_id, id) order after (p_after_tenant, p_after_id); at most 1000 rows a call.
-- Reads through the partial index kb_documents_pending_idx (status in stored, queued, indexing).
create function stored_documents_sweep(p_grace interval, p_limit integer, p_after_tenant uuid default null, p_after_id uuid default null)
  returns table (tenant_id uuid, id uuid, version integer)
  language plpgsql security definer set search_path = public as $$
begin
  perform set_config('hotdash.kb_sweep', 'on', true);
  return query
    select d.tenant_id, d.id, d.version
    from kb_documents d
    where d.status in ('stored', 'queued')
      and d.updated_at < now() - greatest(p_grace, interval '0')
      and (p_after_tenant is null or (d.tenant_id, d.id) > (p_after_tenant, coalesce(p_after_id, '00000000-0000-0000-0000-000000000000'::uuid)))
    order by d.tenant_id, d.id
    limit least(greatest(p_limit, 0), 1000);
  perform set_config('hotdash.kb_sweep', '', true);
end $$;

revoke all on function stored_documents_sweep(interval, integer, uuid, uuid) from public;
grant execute on function stored_documents_sweep(interval, integer, uuid, uuid) to hotdash_app;
