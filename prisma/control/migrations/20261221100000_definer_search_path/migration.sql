-- Every SECURITY DEFINER function of this database had `set search_path = public`. PostgreSQL then
-- still looks in the session's temporary schema first for tables (pg_temp is searched first when the
-- path does not name it): a role that may call such a function could create a temporary table
-- named like one it reads (tenant_fences, pg_publication, kb_documents…) and have the function,
-- running as the owner, act on that instead. The path is now pg_catalog, public, then pg_temp (last,
-- as PostgreSQL's documentation of SECURITY DEFINER asks). Generic: every definer function of the
-- public schema that still has the old path.
do $$
declare f regprocedure;
begin
  for f in
    select p.oid::regprocedure
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'public' and p.prosecdef and 'search_path=public' = any (p.proconfig)
  loop
    execute format('alter function %s set search_path = pg_catalog, public, pg_temp', f);
  end loop;
end $$;
